package features

import "math"

// vectorColumn reads one interaction_features column from a Vector: an
// int64, float64, time.Time or string, or nil for NULL. The tests keep
// their own list, independent of the catalogue, so that a slip in one
// cannot hide the same slip in the other.
type vectorColumn struct {
	name string
	get  func(v *Vector) any
}

// vectorColumns lists every feature column of interaction_features, in
// table order, so tests can name the columns they check.
var vectorColumns = []vectorColumn{
	{"total_views", func(v *Vector) any { return v.TotalViews }},
	{"unique_views", func(v *Vector) any { return v.UniqueViews }},
	{"view_duration_avg", func(v *Vector) any { return nullableValue(v.ViewDurationAvg) }},
	{"view_frequency", func(v *Vector) any { return v.ViewFrequency }},
	{"engagement_score", func(v *Vector) any { return v.EngagementScore }},
	{"cart_adds", func(v *Vector) any { return v.CartAdds }},
	{"cart_removes", func(v *Vector) any { return v.CartRemoves }},
	{"purchases", func(v *Vector) any { return v.Purchases }},
	{"cart_conversion_rate", func(v *Vector) any { return v.CartConversionRate }},
	{"view_to_purchase_rate", func(v *Vector) any { return v.ViewToPurchaseRate }},
	{"search_views", func(v *Vector) any { return v.SearchViews }},
	{"category_views", func(v *Vector) any { return v.CategoryViews }},
	{"collection_views", func(v *Vector) any { return v.CollectionViews }},
	{"direct_views", func(v *Vector) any { return v.DirectViews }},
	{"referral_views", func(v *Vector) any { return v.ReferralViews }},
	{"first_view_date", func(v *Vector) any { return nullableValue(v.FirstViewDate) }},
	{"last_view_date", func(v *Vector) any { return nullableValue(v.LastViewDate) }},
	{"view_recency", func(v *Vector) any { return nullableValue(v.ViewRecency) }},
	{"view_consistency", func(v *Vector) any { return nullableValue(v.ViewConsistency) }},
	{"seasonal_view_pattern", func(v *Vector) any { return nullableValue(v.SeasonalViewPattern) }},
	{"mobile_views", func(v *Vector) any { return v.MobileViews }},
	{"desktop_views", func(v *Vector) any { return v.DesktopViews }},
	{"tablet_views", func(v *Vector) any { return v.TabletViews }},
	{"preferred_device", func(v *Vector) any { return nullableValue(v.PreferredDevice) }},
	{"channel_preference", func(v *Vector) any { return nullableValue(v.ChannelPreference) }},
	{"interaction_quality_score", func(v *Vector) any { return v.InteractionQualityScore }},
	{"intent_score", func(v *Vector) any { return v.IntentScore }},
	{"loyalty_indicator", func(v *Vector) any { return v.LoyaltyIndicator }},
	{"recommendation_score", func(v *Vector) any { return v.RecommendationScore }},
	{"purchase_quantity", func(v *Vector) any { return v.PurchaseQuantity }},
	{"purchase_value", func(v *Vector) any { return v.PurchaseValue }},
	{"last_purchase_date", func(v *Vector) any { return nullableValue(v.LastPurchaseDate) }},
	{"purchase_recency", func(v *Vector) any { return nullableValue(v.PurchaseRecency) }},
}

// nullableValue returns n's value, or nil for NULL.
func nullableValue[T any](n Null[T]) any {
	if !n.Valid {
		return nil
	}
	return n.V
}

// closeFloats reports whether a and b agree to rel relative or abs
// absolute; FEATURES.md allows 1e-9 and 1e-12 between implementations.
func closeFloats(a, b, rel, abs float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return false
	}
	diff := math.Abs(a - b)
	return diff <= abs || diff <= rel*max(math.Abs(a), math.Abs(b))
}
