package features

import "time"

// Version is the version of the feature formulas. It is stored with every row
// as features_version and must be bumped whenever a formula changes.
const Version = 1

// Null is a value that may be NULL. The zero value is NULL.
type Null[T any] struct {
	V     T
	Valid bool
}

// Some returns a valid Null holding v.
func Some[T any](v T) Null[T] { return Null[T]{V: v, Valid: true} }

// Event is one interaction of a pair as stored in user_interactions, before
// normalisation. Categorical columns hold the raw text, "" for NULL.
type Event struct {
	ID           string
	CreatedAt    time.Time
	EventType    string
	PageType     string
	DeviceType   string
	ReferrerType string
	// ViewDuration is in seconds; NaN stands for NULL.
	ViewDuration float64
}

// OrderLine is one line_item_data row for the pair's product in an order of
// the pair's customer, joined with its order and the product's price.
type OrderLine struct {
	OrderID        string
	OrderCreatedAt time.Time
	// Quantity is the line's quantity; NULL counts as 1.
	Quantity Null[int64]
	// Price is the line's unit price; NULL falls back to ProductPrice.
	Price Null[float64]
	// ProductPrice is product_data.price for the same shop and product; NULL
	// when the product is unknown or has no price.
	ProductPrice Null[float64]
}

// Vector holds every feature of one pair, in the order and under the names
// of the interaction_features columns (FEATURES.md section 5).
type Vector struct {
	TotalViews              int64
	UniqueViews             int64
	ViewDurationAvg         Null[float64]
	ViewFrequency           float64
	EngagementScore         float64
	CartAdds                int64
	CartRemoves             int64
	Purchases               int64
	CartConversionRate      float64
	ViewToPurchaseRate      float64
	SearchViews             int64
	CategoryViews           int64
	CollectionViews         int64
	DirectViews             int64
	ReferralViews           int64
	FirstViewDate           Null[time.Time]
	LastViewDate            Null[time.Time]
	ViewRecency             Null[int64]
	ViewConsistency         Null[float64]
	SeasonalViewPattern     Null[float64]
	MobileViews             int64
	DesktopViews            int64
	TabletViews             int64
	PreferredDevice         Null[string]
	ChannelPreference       Null[string]
	InteractionQualityScore float64
	IntentScore             float64
	LoyaltyIndicator        float64
	RecommendationScore     float64
	PurchaseQuantity        int64
	PurchaseValue           float64
	LastPurchaseDate        Null[time.Time]
	PurchaseRecency         Null[int64]
}
