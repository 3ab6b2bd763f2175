package features

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// fuzzInput turns fuzz bytes into the arguments of Compute, so that the fuzzer
// explores the mix of events and lines rather than the bytes of a format.
type fuzzInput struct {
	data []byte
	raw  string // an arbitrary text offered as any categorical value
}

// next consumes one byte, 0 once the data is exhausted.
func (in *fuzzInput) next() byte {
	if len(in.data) == 0 {
		return 0
	}
	b := in.data[0]
	in.data = in.data[1:]
	return b
}

// pick chooses one of options, or the raw text.
func (in *fuzzInput) pick(options ...string) string {
	i := int(in.next()) % (len(options) + 1)
	if i == len(options) {
		return in.raw
	}
	return options[i]
}

// fuzzBase is the origin of every fuzz timestamp.
var fuzzBase = time.Date(2024, 12, 31, 23, 30, 0, 0, time.UTC)

// instant returns fuzzBase plus a two-byte count of a unit chosen by a third
// byte, so that instants fall microseconds, session gaps, days or years
// apart.
func (in *fuzzInput) instant() time.Time {
	units := [...]time.Duration{time.Microsecond, time.Second, 15 * time.Minute, time.Hour, 24 * time.Hour}
	unit := units[int(in.next())%len(units)]
	n := time.Duration(in.next())<<8 | time.Duration(in.next())
	return fuzzBase.Add(n * unit)
}

// duration returns a view_duration, the special values included.
func (in *fuzzInput) duration() float64 {
	switch b := in.next(); b % 10 {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1)
	case 2:
		return math.Inf(-1)
	case 3:
		return -float64(b)
	case 4:
		return 1800
	case 5:
		return math.MaxFloat64
	default:
		return float64(b) * 9.5
	}
}

// nullInt returns NULL or a small non-negative integer.
func (in *fuzzInput) nullInt() Null[int64] {
	b := in.next()
	if b%5 == 0 {
		return Null[int64]{}
	}
	return Some(int64(b % 7))
}

// nullPrice returns NULL or a non-negative price.
func (in *fuzzInput) nullPrice() Null[float64] {
	b := in.next()
	if b%4 == 0 {
		return Null[float64]{}
	}
	return Some(float64(b) * 0.25)
}

// pair builds as_of, events and lines from the input.
func (in *fuzzInput) pair() (time.Time, []Event, []OrderLine) {
	asOf := in.instant()
	var events []Event
	var lines []OrderLine
	for len(in.data) > 0 && len(events)+len(lines) < 512 {
		if in.next()%4 == 0 {
			lines = append(lines, OrderLine{
				OrderID:        "o" + strconv.Itoa(int(in.next()%4)),
				OrderCreatedAt: in.instant(),
				Quantity:       in.nullInt(),
				Price:          in.nullPrice(),
				ProductPrice:   in.nullPrice(),
			})
			continue
		}
		events = append(events, Event{
			ID:           "e" + strconv.Itoa(int(in.next()%8)),
			CreatedAt:    in.instant(),
			EventType:    in.pick("product_viewed", " View ", "CART_ADD", "remove_from_cart", "checkout_completed", "page_viewed", ""),
			PageType:     in.pick("search", "Search_Results", "", "category", "collections", "product", "home"),
			DeviceType:   in.pick("mobile", "PC", "iPad", "tv", ""),
			ReferrerType: in.pick("", "direct", "internal", " Social ", "social", "email", "paid"),
			ViewDuration: in.duration(),
		})
	}
	return asOf, events, lines
}

// FuzzCompute checks that Compute never panics, keeps every bounded feature
// in its range with no NaN, and gives the same Vector for its own sorted
// output as for the input it sorted.
func FuzzCompute(f *testing.F) {
	f.Add([]byte{}, "")
	f.Add([]byte{1, 0, 200, 1, 0, 1, 0, 10, 0, 0, 0, 0, 1, 1, 0, 12, 0, 1, 0, 0, 3, 0}, "Social")
	f.Add([]byte{4, 0, 100, 0, 2, 4, 0, 1, 1, 2, 3, 1, 9, 4, 0, 5, 4, 3, 2, 0, 9, 1, 1, 1, 1, 2, 0, 0}, " VIEW ")
	f.Add([]byte("a longer run of arbitrary bytes to seed many events and lines"), "ipad")
	f.Fuzz(func(t *testing.T, data []byte, raw string) {
		in := fuzzInput{data: data, raw: raw}
		asOf, events, lines := in.pair()
		v := Compute(asOf, events, lines)
		checkVectorBounds(t, asOf, v)
		if again := Compute(asOf, events, lines); again != v {
			t.Errorf("Compute on its own sorted input differs:\n got %+v\nwant %+v", again, v)
		}
		if !PairExists(asOf, events, lines) && v != Compute(asOf, nil, nil) {
			t.Errorf("a pair that does not exist has features %+v", v)
		}
	})
}

// checkVectorBounds checks the ranges FEATURES.md section 5 gives, and the
// relations between counts and NULLs that the definitions imply.
func checkVectorBounds(t *testing.T, asOf time.Time, v Vector) {
	t.Helper()
	counts := map[string]int64{
		"total_views": v.TotalViews, "unique_views": v.UniqueViews, "cart_adds": v.CartAdds,
		"cart_removes": v.CartRemoves, "purchases": v.Purchases, "search_views": v.SearchViews,
		"category_views": v.CategoryViews, "collection_views": v.CollectionViews,
		"direct_views": v.DirectViews, "referral_views": v.ReferralViews, "mobile_views": v.MobileViews,
		"desktop_views": v.DesktopViews, "tablet_views": v.TabletViews, "purchase_quantity": v.PurchaseQuantity,
	}
	for name, n := range counts {
		if n < 0 {
			t.Errorf("%s = %d, want >= 0", name, n)
		}
	}
	floats := []struct {
		name   string
		x      Null[float64]
		lo, hi float64
	}{
		{"view_duration_avg", v.ViewDurationAvg, 0, MaxViewDuration},
		{"view_frequency", Some(v.ViewFrequency), 0, math.MaxFloat64},
		{"engagement_score", Some(v.EngagementScore), 0, 100},
		{"cart_conversion_rate", Some(v.CartConversionRate), 0, 1},
		{"view_to_purchase_rate", Some(v.ViewToPurchaseRate), 0, 1},
		{"view_consistency", v.ViewConsistency, 0, 1},
		{"seasonal_view_pattern", v.SeasonalViewPattern, 0, 1},
		{"interaction_quality_score", Some(v.InteractionQualityScore), 0, 100},
		{"intent_score", Some(v.IntentScore), 0, 1},
		{"loyalty_indicator", Some(v.LoyaltyIndicator), 0, 1},
		{"recommendation_score", Some(v.RecommendationScore), 0, 1},
		{"purchase_value", Some(v.PurchaseValue), 0, math.MaxFloat64},
	}
	for _, f := range floats {
		// The negated test also catches NaN, which fails every comparison.
		if f.x.Valid && !(f.x.V >= f.lo && f.x.V <= f.hi) {
			t.Errorf("%s = %v, want in [%v, %v]", f.name, f.x.V, f.lo, f.hi)
		}
	}

	if v.UniqueViews > v.TotalViews ||
		v.SearchViews+v.CategoryViews+v.CollectionViews+v.DirectViews > v.TotalViews ||
		v.MobileViews+v.DesktopViews+v.TabletViews > v.TotalViews ||
		v.ReferralViews > v.TotalViews {
		t.Errorf("a view count exceeds total_views: %+v", v)
	}
	hasViews := v.TotalViews > 0
	if v.FirstViewDate.Valid != hasViews || v.LastViewDate.Valid != hasViews || v.ViewRecency.Valid != hasViews ||
		v.ViewConsistency.Valid != hasViews || v.SeasonalViewPattern.Valid != hasViews {
		t.Errorf("view features NULL or not regardless of total_views = %d: %+v", v.TotalViews, v)
	}
	if hasViews && (v.FirstViewDate.V.After(v.LastViewDate.V) || v.LastViewDate.V.After(asOf) || v.ViewRecency.V < 0) {
		t.Errorf("view dates out of order at as_of %v: %+v", asOf, v)
	}
	if v.LastPurchaseDate.Valid != v.PurchaseRecency.Valid || (v.PurchaseRecency.Valid && v.PurchaseRecency.V < 0) {
		t.Errorf("last_purchase_date and purchase_recency disagree: %+v", v)
	}
	if (v.Purchases > 0) != v.LastPurchaseDate.Valid {
		t.Errorf("purchases = %d but last_purchase_date valid = %v", v.Purchases, v.LastPurchaseDate.Valid)
	}
}
