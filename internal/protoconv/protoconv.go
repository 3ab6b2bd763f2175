// Package protoconv converts between the kernel's and the store's types and
// the API's messages, in one place for every path that serves features.
package protoconv

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/store"
)

// Record converts a stored row to its API form.
func Record(r *store.StoredRow) *featurestorev1.FeatureRecord {
	return &featurestorev1.FeatureRecord{
		CustomerId:      r.CustomerID,
		ProductId:       r.ProductID,
		Features:        Features(&r.Vector),
		AsOf:            timestamppb.New(r.AsOf),
		ComputedAt:      timestamppb.New(r.ComputedAt),
		FeaturesVersion: r.Version,
	}
}

// Features converts a vector to the API's Features message; NULL
// features are left absent.
func Features(v *features.Vector) *featurestorev1.Features {
	return &featurestorev1.Features{
		TotalViews:              some(int32(v.TotalViews)),
		UniqueViews:             some(int32(v.UniqueViews)),
		ViewDurationAvg:         ptr(v.ViewDurationAvg),
		ViewFrequency:           some(v.ViewFrequency),
		EngagementScore:         some(v.EngagementScore),
		CartAdds:                some(int32(v.CartAdds)),
		CartRemoves:             some(int32(v.CartRemoves)),
		Purchases:               some(int32(v.Purchases)),
		CartConversionRate:      some(v.CartConversionRate),
		ViewToPurchaseRate:      some(v.ViewToPurchaseRate),
		SearchViews:             some(int32(v.SearchViews)),
		CategoryViews:           some(int32(v.CategoryViews)),
		CollectionViews:         some(int32(v.CollectionViews)),
		DirectViews:             some(int32(v.DirectViews)),
		ReferralViews:           some(int32(v.ReferralViews)),
		FirstViewDate:           timestamp(v.FirstViewDate),
		LastViewDate:            timestamp(v.LastViewDate),
		ViewRecency:             int32Ptr(v.ViewRecency),
		ViewConsistency:         ptr(v.ViewConsistency),
		SeasonalViewPattern:     ptr(v.SeasonalViewPattern),
		MobileViews:             some(int32(v.MobileViews)),
		DesktopViews:            some(int32(v.DesktopViews)),
		TabletViews:             some(int32(v.TabletViews)),
		PreferredDevice:         ptr(v.PreferredDevice),
		ChannelPreference:       ptr(v.ChannelPreference),
		InteractionQualityScore: some(v.InteractionQualityScore),
		IntentScore:             some(v.IntentScore),
		LoyaltyIndicator:        some(v.LoyaltyIndicator),
		RecommendationScore:     some(v.RecommendationScore),
		PurchaseQuantity:        some(v.PurchaseQuantity),
		PurchaseValue:           some(v.PurchaseValue),
		LastPurchaseDate:        timestamp(v.LastPurchaseDate),
		PurchaseRecency:         int32Ptr(v.PurchaseRecency),
	}
}

// Vector is the inverse of Features.
func Vector(f *featurestorev1.Features) features.Vector {
	return features.Vector{
		TotalViews:              int64(f.GetTotalViews()),
		UniqueViews:             int64(f.GetUniqueViews()),
		ViewDurationAvg:         null(f.ViewDurationAvg),
		ViewFrequency:           f.GetViewFrequency(),
		EngagementScore:         f.GetEngagementScore(),
		CartAdds:                int64(f.GetCartAdds()),
		CartRemoves:             int64(f.GetCartRemoves()),
		Purchases:               int64(f.GetPurchases()),
		CartConversionRate:      f.GetCartConversionRate(),
		ViewToPurchaseRate:      f.GetViewToPurchaseRate(),
		SearchViews:             int64(f.GetSearchViews()),
		CategoryViews:           int64(f.GetCategoryViews()),
		CollectionViews:         int64(f.GetCollectionViews()),
		DirectViews:             int64(f.GetDirectViews()),
		ReferralViews:           int64(f.GetReferralViews()),
		FirstViewDate:           nullTime(f.GetFirstViewDate()),
		LastViewDate:            nullTime(f.GetLastViewDate()),
		ViewRecency:             nullInt64(f.ViewRecency),
		ViewConsistency:         null(f.ViewConsistency),
		SeasonalViewPattern:     null(f.SeasonalViewPattern),
		MobileViews:             int64(f.GetMobileViews()),
		DesktopViews:            int64(f.GetDesktopViews()),
		TabletViews:             int64(f.GetTabletViews()),
		PreferredDevice:         null(f.PreferredDevice),
		ChannelPreference:       null(f.ChannelPreference),
		InteractionQualityScore: f.GetInteractionQualityScore(),
		IntentScore:             f.GetIntentScore(),
		LoyaltyIndicator:        f.GetLoyaltyIndicator(),
		RecommendationScore:     f.GetRecommendationScore(),
		PurchaseQuantity:        f.GetPurchaseQuantity(),
		PurchaseValue:           f.GetPurchaseValue(),
		LastPurchaseDate:        nullTime(f.GetLastPurchaseDate()),
		PurchaseRecency:         nullInt64(f.PurchaseRecency),
	}
}

// some returns a pointer to v: a set field, present even where it is 0.
func some[T any](v T) *T { return &v }

func ptr[T any](n features.Null[T]) *T {
	if !n.Valid {
		return nil
	}
	v := n.V
	return &v
}

func int32Ptr(n features.Null[int64]) *int32 {
	if !n.Valid {
		return nil
	}
	v := int32(n.V)
	return &v
}

func timestamp(n features.Null[time.Time]) *timestamppb.Timestamp {
	if !n.Valid {
		return nil
	}
	return timestamppb.New(n.V)
}

func null[T any](p *T) features.Null[T] {
	if p == nil {
		return features.Null[T]{}
	}
	return features.Some(*p)
}

func nullInt64(p *int32) features.Null[int64] {
	if p == nil {
		return features.Null[int64]{}
	}
	return features.Some(int64(*p))
}

func nullTime(ts *timestamppb.Timestamp) features.Null[time.Time] {
	if ts == nil {
		return features.Null[time.Time]{}
	}
	return features.Some(ts.AsTime())
}
