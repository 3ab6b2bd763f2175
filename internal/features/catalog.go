package features

import (
	"fmt"
	"time"
)

// Type is the value type of a feature.
type Type uint8

const (
	TypeInt Type = iota + 1
	TypeFloat
	TypeTimestamp
	TypeString
)

// String returns the type's name as DescribeFeatures and the docs spell it.
func (t Type) String() string {
	switch t {
	case TypeInt:
		return "int"
	case TypeFloat:
		return "float"
	case TypeTimestamp:
		return "timestamp"
	case TypeString:
		return "string"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Descriptor describes one feature: its column name, type, nullability,
// range and meaning.
type Descriptor struct {
	Name        string
	Type        Type
	Nullable    bool
	Min, Max    Null[float64]
	Description string
	// Categories lists the values of a categorical feature, in the order of
	// their dense codes.
	Categories []string
}

func bounded(lo, hi float64) (Null[float64], Null[float64]) { return Some(lo), Some(hi) }

// catalog is the one list of features: the table's columns, the proto
// message, DescribeFeatures and the dense layout all follow its order, and
// tests check each of them against it.
var catalog = func() []Descriptor {
	count := func(name, desc string) Descriptor {
		return Descriptor{Name: name, Type: TypeInt, Min: Some(0.0), Description: desc}
	}
	ratio := func(name string, nullable bool, desc string) Descriptor {
		lo, hi := bounded(0, 1)
		return Descriptor{Name: name, Type: TypeFloat, Nullable: nullable, Min: lo, Max: hi, Description: desc}
	}
	score100 := func(name, desc string) Descriptor {
		lo, hi := bounded(0, 100)
		return Descriptor{Name: name, Type: TypeFloat, Min: lo, Max: hi, Description: desc}
	}
	nonNegative := func(name string, nullable bool, t Type, desc string) Descriptor {
		return Descriptor{Name: name, Type: t, Nullable: nullable, Min: Some(0.0), Description: desc}
	}
	instant := func(name, desc string) Descriptor {
		return Descriptor{Name: name, Type: TypeTimestamp, Nullable: true, Description: desc}
	}
	durLo, durHi := bounded(0, 1800)
	return []Descriptor{
		count("total_views", "Number of product views."),
		count("unique_views", "Number of view sessions (views split where the gap exceeds 30 minutes)."),
		{Name: "view_duration_avg", Type: TypeFloat, Nullable: true, Min: durLo, Max: durHi,
			Description: "Mean view duration in seconds, each capped at 1800; NULL when no view has a duration."},
		nonNegative("view_frequency", false, TypeFloat, "Views per calendar day between the first and the last view."),
		score100("engagement_score", "Engagement from views, duration and sessions, 0-100."),
		count("cart_adds", "Number of add-to-cart events."),
		count("cart_removes", "Number of remove-from-cart events."),
		count("purchases", "Purchases: the larger of distinct orders containing the product and purchase events."),
		ratio("cart_conversion_rate", false, "min(1, purchases / cart_adds); 0 without cart adds."),
		ratio("view_to_purchase_rate", false, "min(1, purchases / total_views); 0 without views."),
		count("search_views", "Views reached from search."),
		count("category_views", "Views reached from a category page."),
		count("collection_views", "Views reached from a collection page."),
		count("direct_views", "Views reached directly (product page or no page type)."),
		count("referral_views", "Views with an external referrer (not direct, not internal)."),
		instant("first_view_date", "Time of the first view; NULL without views."),
		instant("last_view_date", "Time of the last view; NULL without views."),
		nonNegative("view_recency", true, TypeInt, "Whole days from the last view to as_of; NULL without views."),
		ratio("view_consistency", true, "Active days / calendar span of the views; NULL without views."),
		ratio("seasonal_view_pattern", true, "1 - normalised entropy of views over the months of the year; NULL without views."),
		count("mobile_views", "Views on mobile devices."),
		count("desktop_views", "Views on desktop devices."),
		count("tablet_views", "Views on tablets."),
		{Name: "preferred_device", Type: TypeString, Nullable: true, Categories: []string{"mobile", "desktop", "tablet"},
			Description: "Device with the most views (ties: mobile, desktop, tablet); NULL when no view has a known device."},
		{Name: "channel_preference", Type: TypeString, Nullable: true, Categories: ChannelCategories,
			Description: "Referrer type held by the most views (ties: byte order); NULL when no view has a referrer."},
		score100("interaction_quality_score", "Quality of attention from duration, deep sessions and consistency, 0-100."),
		ratio("intent_score", false, "Purchase intent from views, net cart adds and recency, 0-1."),
		ratio("loyalty_indicator", false, "Loyalty from purchases and active days, 0-1."),
		ratio("recommendation_score", false, "Overall recommendation score, 0-1."),
		count("purchase_quantity", "Units bought in the counted orders (NULL quantity counts 1)."),
		nonNegative("purchase_value", false, TypeFloat, "Value bought in the counted orders: quantity x unit price."),
		instant("last_purchase_date", "Time of the latest purchase (order or purchase event); NULL without purchases."),
		nonNegative("purchase_recency", true, TypeInt, "Whole days from the last purchase to as_of; NULL without purchases."),
	}
}()

// ChannelCategories are the referrer types with their own dense code; every
// other channel_preference value is encoded as "other", the last entry.
var ChannelCategories = []string{"direct", "internal", "search_engine", "social", "email", "paid", "referral", "other"}

// Catalog returns the feature descriptors in column order. The slice is a
// copy: callers may not change the catalogue.
func Catalog() []Descriptor {
	out := make([]Descriptor, len(catalog))
	copy(out, catalog)
	return out
}

// Names returns the feature names (the interaction_features columns) in
// catalogue order.
func Names() []string {
	names := make([]string, len(catalog))
	for i, d := range catalog {
		names[i] = d.Name
	}
	return names
}

// Count is the number of features.
func Count() int { return len(catalog) }

func appendNull[T any](dst []any, n Null[T]) []any {
	if !n.Valid {
		return append(dst, nil)
	}
	return append(dst, n.V)
}

// AppendValues appends the vector's values to dst in catalogue order: int64,
// float64, time.Time or string, and nil for NULL.
func (v *Vector) AppendValues(dst []any) []any {
	dst = append(dst, v.TotalViews, v.UniqueViews)
	dst = appendNull(dst, v.ViewDurationAvg)
	dst = append(dst, v.ViewFrequency, v.EngagementScore, v.CartAdds, v.CartRemoves, v.Purchases,
		v.CartConversionRate, v.ViewToPurchaseRate, v.SearchViews, v.CategoryViews, v.CollectionViews,
		v.DirectViews, v.ReferralViews)
	dst = appendNull(dst, v.FirstViewDate)
	dst = appendNull(dst, v.LastViewDate)
	dst = appendNull(dst, v.ViewRecency)
	dst = appendNull(dst, v.ViewConsistency)
	dst = appendNull(dst, v.SeasonalViewPattern)
	dst = append(dst, v.MobileViews, v.DesktopViews, v.TabletViews)
	dst = appendNull(dst, v.PreferredDevice)
	dst = appendNull(dst, v.ChannelPreference)
	dst = append(dst, v.InteractionQualityScore, v.IntentScore, v.LoyaltyIndicator, v.RecommendationScore,
		v.PurchaseQuantity, v.PurchaseValue)
	dst = appendNull(dst, v.LastPurchaseDate)
	return appendNull(dst, v.PurchaseRecency)
}

// ScanTargets appends, in catalogue order, pointers that a database row scan
// fills. After the scan, call the returned function to move NULL-aware
// values into the vector.
func (v *Vector) ScanTargets(dst []any) ([]any, func()) {
	var (
		durAvg, consistency, seasonal   *float64
		firstView, lastView, lastBought *time.Time
		viewRecency, boughtRecency      *int64
		device, channel                 *string
	)
	dst = append(dst, &v.TotalViews, &v.UniqueViews, &durAvg, &v.ViewFrequency, &v.EngagementScore,
		&v.CartAdds, &v.CartRemoves, &v.Purchases, &v.CartConversionRate, &v.ViewToPurchaseRate,
		&v.SearchViews, &v.CategoryViews, &v.CollectionViews, &v.DirectViews, &v.ReferralViews,
		&firstView, &lastView, &viewRecency, &consistency, &seasonal,
		&v.MobileViews, &v.DesktopViews, &v.TabletViews, &device, &channel,
		&v.InteractionQualityScore, &v.IntentScore, &v.LoyaltyIndicator, &v.RecommendationScore,
		&v.PurchaseQuantity, &v.PurchaseValue, &lastBought, &boughtRecency)
	return dst, func() {
		v.ViewDurationAvg = fromPtr(durAvg)
		v.FirstViewDate = fromPtr(firstView)
		v.LastViewDate = fromPtr(lastView)
		v.ViewRecency = fromPtr(viewRecency)
		v.ViewConsistency = fromPtr(consistency)
		v.SeasonalViewPattern = fromPtr(seasonal)
		v.PreferredDevice = fromPtr(device)
		v.ChannelPreference = fromPtr(channel)
		v.LastPurchaseDate = fromPtr(lastBought)
		v.PurchaseRecency = fromPtr(boughtRecency)
	}
}

func fromPtr[T any](p *T) Null[T] {
	if p == nil {
		return Null[T]{}
	}
	return Some(*p)
}
