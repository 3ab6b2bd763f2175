package features

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/testenv/golden"
)

// utcTime parses a test timestamp written as the golden files write them.
func utcTime(s string) time.Time {
	t, err := golden.ParseTime(s)
	if err != nil {
		panic(err)
	}
	return t
}

// testView returns a view event; duration NaN is NULL.
func testView(id, at, page, device, referrer string, duration float64) Event {
	return Event{
		ID:           id,
		CreatedAt:    utcTime(at),
		EventType:    "product_viewed",
		PageType:     page,
		DeviceType:   device,
		ReferrerType: referrer,
		ViewDuration: duration,
	}
}

// testViewAt returns a view with NULL page, device, referrer and duration.
func testViewAt(id, at string) Event {
	return testView(id, at, "", "", "", math.NaN())
}

// testEvent returns an event of the raw type eventType.
func testEvent(id, at, eventType string) Event {
	return Event{ID: id, CreatedAt: utcTime(at), EventType: eventType, ViewDuration: math.NaN()}
}

// testLine returns an order line; a negative quantity or price stands for
// NULL, which keeps the tables short.
func testLine(order, at string, quantity int64, price, productPrice float64) OrderLine {
	l := OrderLine{OrderID: order, OrderCreatedAt: utcTime(at)}
	if quantity >= 0 {
		l.Quantity = Some(quantity)
	}
	if price >= 0 {
		l.Price = Some(price)
	}
	if productPrice >= 0 {
		l.ProductPrice = Some(productPrice)
	}
	return l
}

// checkColumns compares the columns of v named in want: integers, texts and
// timestamps exactly, floats to 1e-12 relative (1e-15 absolute for a want
// of 0); nil is NULL, and an int want also matches an equal float.
func checkColumns(t *testing.T, v Vector, want map[string]any) {
	t.Helper()
	checked := 0
	for _, c := range vectorColumns {
		w, ok := want[c.name]
		if !ok {
			continue
		}
		checked++
		if got := c.get(&v); !sameValue(got, w) {
			t.Errorf("%s: got %s, want %v", c.name, golden.Format(got), w)
		}
	}
	if checked != len(want) {
		t.Fatalf("want names %d columns, only %d exist", len(want), checked)
	}
}

// sameValue reports whether a column value equals the test's want.
func sameValue(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case int:
		switch g := got.(type) {
		case int64:
			return g == int64(w)
		case float64:
			return g == float64(w)
		}
	case float64:
		g, ok := got.(float64)
		return ok && closeFloats(g, w, 1e-12, 1e-15)
	case string:
		g, ok := got.(string)
		return ok && g == w
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	}
	return false
}

// workedExample is the pair of FEATURES.md section 6.
func workedExample() (time.Time, []Event) {
	return utcTime("2025-01-26 00:00:00"), []Event{
		testView("e1", "2025-01-01 10:00:00", "search", "mobile", "social", 30),
		testView("e2", "2025-01-01 10:20:00", "product", "mobile", "internal", 60),
		testView("e3", "2025-01-01 11:00:00", "category", "desktop", "social", math.NaN()),
		testView("e4", "2025-01-25 09:00:00", "collection", "tablet", "email", 5000),
	}
}

// TestComputeWorkedExample checks every column of the worked example of
// FEATURES.md section 6, from its formulas and from its printed decimals.
func TestComputeWorkedExample(t *testing.T) {
	t.Parallel()
	asOf, events := workedExample()
	v := Compute(asOf, events, nil)

	engagement := 100 * (0.4*4/14.0 + 0.3*630/690.0 + 0.3*3/6.0)
	intent := 0.25*4/9.0 + 0.30
	loyalty := 0.4 * 2 / 9.0
	quality := 100 * (0.5*630/690.0 + 0.3/3 + 0.2*0.08)
	checkColumns(t, v, map[string]any{
		"total_views":               4,
		"unique_views":              3,
		"view_duration_avg":         630.0,
		"view_frequency":            0.16,
		"engagement_score":          engagement,
		"cart_adds":                 0,
		"cart_removes":              0,
		"purchases":                 0,
		"cart_conversion_rate":      0,
		"view_to_purchase_rate":     0,
		"search_views":              1,
		"category_views":            1,
		"collection_views":          1,
		"direct_views":              1,
		"referral_views":            3,
		"first_view_date":           utcTime("2025-01-01 10:00:00"),
		"last_view_date":            utcTime("2025-01-25 09:00:00"),
		"view_recency":              0,
		"view_consistency":          0.08,
		"seasonal_view_pattern":     1.0,
		"mobile_views":              2,
		"desktop_views":             1,
		"tablet_views":              1,
		"preferred_device":          "mobile",
		"channel_preference":        "social",
		"interaction_quality_score": quality,
		"intent_score":              intent,
		"loyalty_indicator":         loyalty,
		"recommendation_score":      0.4*intent + 0.3*engagement/100 + 0.2*loyalty + 0.1,
		"purchase_quantity":         0,
		"purchase_value":            0,
		"last_purchase_date":        nil,
		"purchase_recency":          nil,
	})

	printed := []struct {
		name      string
		got, want float64
		tolerance float64
	}{
		{"engagement_score", v.EngagementScore, 53.819875776, 1e-9},
		{"intent_score", v.IntentScore, 0.411111, 1e-6},
		{"loyalty_indicator", v.LoyaltyIndicator, 0.088888, 1e-6},
		{"interaction_quality_score", v.InteractionQualityScore, 57.252173913, 1e-9},
		{"recommendation_score", v.RecommendationScore, 0.443682, 1e-6},
	}
	for _, p := range printed {
		if math.Abs(p.got-p.want) > p.tolerance {
			t.Errorf("%s = %v, FEATURES.md prints %v", p.name, p.got, p.want)
		}
	}
}

// TestCompute checks the boundaries and rules of FEATURES.md one at a time.
func TestCompute(t *testing.T) {
	t.Parallel()
	const asOf = "2025-01-26 00:00:00"
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name   string
		asOf   string // asOf above when empty
		events []Event
		lines  []OrderLine
		want   map[string]any
	}{
		{
			name:   "gap of 1799 s keeps one session",
			events: []Event{testViewAt("a", "2025-01-01 10:00:00"), testViewAt("b", "2025-01-01 10:29:59")},
			want:   map[string]any{"unique_views": 1, "interaction_quality_score": 100 * (0.3 + 0.2)},
		},
		{
			name:   "gap of exactly 1800 s keeps one session",
			events: []Event{testViewAt("a", "2025-01-01 10:00:00"), testViewAt("b", "2025-01-01 10:30:00")},
			want:   map[string]any{"unique_views": 1, "interaction_quality_score": 100 * (0.3 + 0.2)},
		},
		{
			name:   "gap of 1801 s starts a session",
			events: []Event{testViewAt("a", "2025-01-01 10:00:00"), testViewAt("b", "2025-01-01 10:30:01")},
			want:   map[string]any{"unique_views": 2, "interaction_quality_score": 100 * 0.2},
		},
		{
			name:   "gap of 1800 s and 1 µs starts a session",
			events: []Event{testViewAt("a", "2025-01-01 10:00:00"), testViewAt("b", "2025-01-01 10:30:00.000001")},
			want:   map[string]any{"unique_views": 2},
		},
		{
			name: "gaps of 1799, 1800 and 1801 s in a row",
			events: []Event{
				testViewAt("a", "2025-01-01 10:00:00"),
				testViewAt("b", "2025-01-01 10:29:59"),
				testViewAt("c", "2025-01-01 10:59:59"),
				testViewAt("d", "2025-01-01 11:30:00"),
			},
			want: map[string]any{
				"total_views":               4,
				"unique_views":              2,
				"engagement_score":          100 * (0.4*4/14.0 + 0.3*2/5.0),
				"interaction_quality_score": 100 * (0.3*0.5 + 0.2),
			},
		},
		{
			name:   "views either side of UTC midnight",
			asOf:   "2025-01-03 00:00:00",
			events: []Event{testViewAt("a", "2025-01-01 23:59:59.999999"), testViewAt("b", "2025-01-02 00:00:00")},
			want: map[string]any{
				"unique_views":     1,
				"view_frequency":   1.0,
				"view_consistency": 1.0,
				"view_recency":     1,
				"first_view_date":  utcTime("2025-01-01 23:59:59.999999"),
				"last_view_date":   utcTime("2025-01-02 00:00:00"),
			},
		},
		{
			name:   "views at both ends of one UTC day",
			asOf:   "2025-01-03 00:00:00",
			events: []Event{testViewAt("a", "2025-01-02 00:00:00"), testViewAt("b", "2025-01-02 23:59:59.999999")},
			want:   map[string]any{"unique_views": 2, "view_frequency": 2.0, "view_consistency": 1.0, "view_recency": 0},
		},
		{
			name:   "views either side of the Unix epoch",
			asOf:   "1970-01-02 00:00:00",
			events: []Event{testViewAt("a", "1969-12-31 23:59:59"), testViewAt("b", "1970-01-01 00:00:00")},
			want:   map[string]any{"view_frequency": 1.0, "view_consistency": 1.0, "view_recency": 1, "seasonal_view_pattern": 1 - math.Log(2)/math.Log(12)},
		},
		{
			name:   "view_recency one microsecond short of a day",
			asOf:   "2025-01-02 00:00:00",
			events: []Event{testViewAt("a", "2025-01-01 00:00:00.000001")},
			want:   map[string]any{"view_recency": 0, "intent_score": 0.25*1/6.0 + 0.30},
		},
		{
			name:   "view_recency of exactly one day",
			asOf:   "2025-01-02 00:00:00",
			events: []Event{testViewAt("a", "2025-01-01 00:00:00")},
			want:   map[string]any{"view_recency": 1, "intent_score": 0.25*1/6.0 + 0.30*math.Pow(0.5, 1/7.0)},
		},
		{
			name: "calendar_span and active_days",
			events: []Event{
				testViewAt("a", "2025-01-01 08:00:00"),
				testViewAt("b", "2025-01-01 20:00:00"),
				testViewAt("c", "2025-01-05 08:00:00"),
			},
			want: map[string]any{
				"view_frequency":    0.6,
				"view_consistency":  0.4,
				"view_recency":      20,
				"loyalty_indicator": 0.4 * 2 / 9.0,
			},
		},
		{
			name: "missing and capped durations",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "", "", nan),
				testView("b", "2025-01-01 10:00:01", "", "", "", inf),
				testView("c", "2025-01-01 10:00:02", "", "", "", -inf),
				testView("d", "2025-01-01 10:00:03", "", "", "", -5),
				testView("e", "2025-01-01 10:00:04", "", "", "", 5000),
				testView("f", "2025-01-01 10:00:05", "", "", "", 0),
				testView("g", "2025-01-01 10:00:06", "", "", "", 60),
			},
			want: map[string]any{"view_duration_avg": (1800 + 0 + 60) / 3.0},
		},
		{
			name:   "duration just over the cap",
			events: []Event{testView("a", "2025-01-01 10:00:00", "", "", "", 1800.5)},
			want:   map[string]any{"view_duration_avg": 1800.0},
		},
		{
			name: "no duration left",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "", "", nan),
				testView("b", "2025-01-01 10:00:01", "", "", "", -1),
			},
			want: map[string]any{
				"view_duration_avg":         nil,
				"engagement_score":          100 * (0.4*2/12.0 + 0.3*1/4.0),
				"interaction_quality_score": 100 * (0.3 + 0.2),
			},
		},
		{
			name:   "non-view events do not count as views",
			events: []Event{testEvent("a", "2025-01-01 10:00:00", "page_viewed"), testEvent("b", "2025-01-01 10:00:01", "")},
			want: map[string]any{
				"total_views": 0, "unique_views": 0, "view_duration_avg": nil, "view_frequency": 0,
				"engagement_score": 0, "cart_adds": 0, "cart_removes": 0, "purchases": 0,
				"first_view_date": nil, "last_view_date": nil, "view_recency": nil,
				"view_consistency": nil, "seasonal_view_pattern": nil, "preferred_device": nil,
				"channel_preference": nil, "interaction_quality_score": 0, "intent_score": 0,
				"loyalty_indicator": 0, "recommendation_score": 0,
			},
		},
		{
			name: "event type aliases",
			events: []Event{
				testEvent("a", "2025-01-01 10:00:00", " view "),
				testEvent("b", "2025-01-01 10:00:01", "PRODUCT_VIEW"),
				testEvent("c", "2025-01-01 10:00:02", "Product_Viewed"),
				testEvent("d", "2025-01-01 10:00:03", "product_added_to_cart"),
				testEvent("e", "2025-01-01 10:00:04", "ADD_TO_CART"),
				testEvent("f", "2025-01-01 10:00:05", "\tcart_add\n"),
				testEvent("g", "2025-01-01 10:00:06", "Remove_From_Cart"),
			},
			want: map[string]any{"total_views": 3, "cart_adds": 3, "cart_removes": 1},
		},
		{
			name: "page types",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "Search_Results", "", "", nan),
				testView("b", "2025-01-01 10:00:01", "  SEARCH ", "", "", nan),
				testView("c", "2025-01-01 10:00:02", "", "", "", nan),
				testView("d", "2025-01-01 10:00:03", "product", "", "", nan),
				testView("e", "2025-01-01 10:00:04", "Direct", "", "", nan),
				testView("f", "2025-01-01 10:00:05", "product_type", "", "", nan),
				testView("g", "2025-01-01 10:00:06", "category", "", "", nan),
				testView("h", "2025-01-01 10:00:07", "collections", "", "", nan),
				testView("i", "2025-01-01 10:00:08", "home", "", "", nan),
			},
			want: map[string]any{"total_views": 9, "search_views": 2, "direct_views": 3, "category_views": 2, "collection_views": 1},
		},
		{
			name: "preferred_device tie of mobile and desktop",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "desktop", "", nan),
				testView("b", "2025-01-01 10:00:01", "", "Phone", "", nan),
			},
			want: map[string]any{"mobile_views": 1, "desktop_views": 1, "tablet_views": 0, "preferred_device": "mobile"},
		},
		{
			name: "preferred_device tie of mobile and tablet",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "iPad", "", nan),
				testView("b", "2025-01-01 10:00:01", "", "smartphone", "", nan),
			},
			want: map[string]any{"mobile_views": 1, "tablet_views": 1, "preferred_device": "mobile"},
		},
		{
			name: "preferred_device tie of desktop and tablet over mobile",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "tablet", "", nan),
				testView("b", "2025-01-01 10:00:01", "", "PC", "", nan),
				testView("c", "2025-01-01 10:00:02", "", "mobile", "", nan),
				testView("d", "2025-01-01 10:00:03", "", " ipad", "", nan),
				testView("e", "2025-01-01 10:00:04", "", "laptop", "", nan),
			},
			want: map[string]any{"mobile_views": 1, "desktop_views": 2, "tablet_views": 2, "preferred_device": "desktop"},
		},
		{
			name: "preferred_device ignores other and NULL devices",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "tv", "", nan),
				testView("b", "2025-01-01 10:00:01", "", "tv", "", nan),
				testView("c", "2025-01-01 10:00:02", "", "", "", nan),
				testView("d", "2025-01-01 10:00:03", "", "Tablet", "", nan),
			},
			want: map[string]any{"mobile_views": 0, "desktop_views": 0, "tablet_views": 1, "preferred_device": "tablet"},
		},
		{
			name: "preferred_device NULL without a known device",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "tv", "", nan),
				testView("b", "2025-01-01 10:00:01", "", " ", "", nan),
			},
			want: map[string]any{"preferred_device": nil},
		},
		{
			name: "channel_preference tie goes to the smallest name",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "", "social", nan),
				testView("b", "2025-01-01 10:00:01", "", "", "paid", nan),
				testView("c", "2025-01-01 10:00:02", "", "", "email", nan),
				testView("d", "2025-01-01 10:00:03", "", "", "Social", nan),
				testView("e", "2025-01-01 10:00:04", "", "", "EMAIL ", nan),
			},
			want: map[string]any{"channel_preference": "email", "referral_views": 5},
		},
		{
			name: "channel_preference counts padded and upper-case referrers together",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "", " Social ", nan),
				testView("b", "2025-01-01 10:00:01", "", "", "email", nan),
				testView("c", "2025-01-01 10:00:02", "", "", "SOCIAL", nan),
			},
			want: map[string]any{"channel_preference": "social", "referral_views": 3},
		},
		{
			name: "direct and internal count for the channel, not as referrals",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "", "internal", nan),
				testView("b", "2025-01-01 10:00:01", "", "", "Direct", nan),
				testView("c", "2025-01-01 10:00:02", "", "", "social", nan),
				testView("d", "2025-01-01 10:00:03", "", "", "direct", nan),
				testView("e", "2025-01-01 10:00:04", "", "", "INTERNAL", nan),
			},
			want: map[string]any{"channel_preference": "direct", "referral_views": 1},
		},
		{
			name: "channel_preference NULL without a referrer",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "", "", nan),
				testView("b", "2025-01-01 10:00:01", "", "", " \t\r\n", nan),
			},
			want: map[string]any{"channel_preference": nil, "referral_views": 0},
		},
		{
			name: "non-ASCII referrers lower-cased by Unicode rules",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "", "Ünïcode", nan),
				testView("b", "2025-01-01 10:00:01", "", "", "email", nan),
				testView("c", "2025-01-01 10:00:02", "", "", " ünÏcode\n", nan),
			},
			want: map[string]any{"channel_preference": "ünïcode", "referral_views": 3},
		},
		{
			name: "more distinct referrers than the stack holds",
			events: []Event{
				testView("a", "2025-01-01 10:00:00", "", "", "r1", nan),
				testView("b", "2025-01-01 10:00:01", "", "", "r2", nan),
				testView("c", "2025-01-01 10:00:02", "", "", "r3", nan),
				testView("d", "2025-01-01 10:00:03", "", "", "r4", nan),
				testView("e", "2025-01-01 10:00:04", "", "", "r5", nan),
				testView("f", "2025-01-01 10:00:05", "", "", "r6", nan),
				testView("g", "2025-01-01 10:00:06", "", "", "r7", nan),
				testView("h", "2025-01-01 10:00:07", "", "", "r8", nan),
				testView("i", "2025-01-01 10:00:08", "", "", "r9", nan),
				testView("j", "2025-01-01 10:00:09", "", "", "R9", nan),
			},
			want: map[string]any{"channel_preference": "r9", "referral_views": 10},
		},
		{
			name: "same month of two years pooled",
			asOf: "2025-02-01 00:00:00",
			events: []Event{
				testViewAt("a", "2024-01-15 10:00:00"),
				testViewAt("b", "2025-01-15 10:00:00"),
			},
			want: map[string]any{"seasonal_view_pattern": 1.0, "view_frequency": 2 / 367.0},
		},
		{
			name: "seasonal_view_pattern over two months",
			events: []Event{
				testViewAt("a", "2024-12-31 23:59:59.999999"),
				testViewAt("b", "2025-01-01 00:00:00"),
			},
			want: map[string]any{"seasonal_view_pattern": 1 - math.Log(2)/math.Log(12)},
		},
		{
			name: "seasonal_view_pattern 2:1:1",
			events: []Event{
				testViewAt("a", "2024-11-01 00:00:00"),
				testViewAt("b", "2024-11-30 23:59:59"),
				testViewAt("c", "2024-12-01 00:00:00"),
				testViewAt("d", "2025-01-01 00:00:00"),
			},
			want: map[string]any{"seasonal_view_pattern": 1 - 1.5*math.Log(2)/math.Log(12)},
		},
		{
			name:   "seasonal_view_pattern over twelve months evenly",
			asOf:   "2026-01-01 00:00:00",
			events: monthlyViews(2025),
			want:   map[string]any{"seasonal_view_pattern": 0.0},
		},
		{
			name: "order purchases beat event purchases",
			events: []Event{
				testEvent("p", "2025-01-20 10:00:00", "checkout_completed"),
			},
			lines: []OrderLine{
				testLine("o1", "2025-01-10 10:00:00", 1, 10, 99),
				testLine("o1", "2025-01-10 10:00:00", 2, 10, 99),
				testLine("o2", "2025-01-12 10:00:00", 3, 10, 99),
			},
			want: map[string]any{
				"purchases":          2,
				"purchase_quantity":  6,
				"purchase_value":     60.0,
				"last_purchase_date": utcTime("2025-01-20 10:00:00"),
				"purchase_recency":   5,
				"loyalty_indicator":  0.6 * 0.5,
			},
		},
		{
			name: "event purchases beat order purchases",
			events: []Event{
				testEvent("p1", "2025-01-02 10:00:00", "checkout_completed"),
				testEvent("p2", "2025-01-03 10:00:00", "Purchase"),
				testEvent("p3", "2025-01-04 10:00:00", " order_completed "),
			},
			lines: []OrderLine{testLine("o1", "2025-01-10 10:00:00", 4, 2.5, -1)},
			want: map[string]any{
				"purchases":          3,
				"purchase_quantity":  4,
				"purchase_value":     10.0,
				"last_purchase_date": utcTime("2025-01-10 10:00:00"),
				"purchase_recency":   15,
			},
		},
		{
			name: "event purchases without order lines",
			events: []Event{
				testEvent("p1", "2025-01-02 10:00:00", "purchase"),
				testViewAt("v1", "2025-01-02 09:00:00"),
			},
			want: map[string]any{
				"purchases":             1,
				"purchase_quantity":     0,
				"purchase_value":        0,
				"view_to_purchase_rate": 1.0,
				"cart_conversion_rate":  0,
				"last_purchase_date":    utcTime("2025-01-02 10:00:00"),
				"purchase_recency":      23,
			},
		},
		{
			name: "NULL quantity and price fall back",
			lines: []OrderLine{
				testLine("o1", "2025-01-01 10:00:00", -1, 10, 99),
				testLine("o1", "2025-01-01 10:00:00", 2, -1, 7.5),
				testLine("o2", "2025-01-02 10:00:00", 3, -1, -1),
				testLine("o3", "2025-01-03 10:00:00", 1, 2.25, 100),
			},
			want: map[string]any{
				"purchases":         3,
				"purchase_quantity": 7,
				"purchase_value":    10 + 15 + 0 + 2.25,
			},
		},
		{
			name: "events and orders after as_of are ignored",
			asOf: "2025-01-10 00:00:00",
			events: []Event{
				testViewAt("a", "2025-01-05 00:00:00"),
				testViewAt("b", "2025-01-10 00:00:00"),
				testViewAt("c", "2025-01-10 00:00:00.000001"),
				testEvent("d", "2025-01-11 00:00:00", "cart_add"),
				testEvent("e", "2025-01-11 00:00:00", "cart_remove"),
				testEvent("f", "2025-01-12 00:00:00", "purchase"),
			},
			lines: []OrderLine{
				testLine("o1", "2025-01-03 00:00:00", 1, 5, -1),
				testLine("o2", "2025-01-10 00:00:00.000001", 1, 7, -1),
			},
			want: map[string]any{
				"total_views":        2,
				"cart_adds":          0,
				"cart_removes":       0,
				"purchases":          1,
				"purchase_quantity":  1,
				"purchase_value":     5.0,
				"last_view_date":     utcTime("2025-01-10 00:00:00"),
				"view_recency":       0,
				"last_purchase_date": utcTime("2025-01-03 00:00:00"),
				"purchase_recency":   7,
			},
		},
		{
			name:  "only order lines",
			lines: []OrderLine{testLine("o1", "2025-01-01 12:00:00", 2, 5, -1)},
			want: map[string]any{
				"total_views": 0, "unique_views": 0, "view_duration_avg": nil, "view_frequency": 0,
				"engagement_score": 0, "cart_adds": 0, "cart_removes": 0, "purchases": 1,
				"cart_conversion_rate": 0, "view_to_purchase_rate": 0, "search_views": 0,
				"category_views": 0, "collection_views": 0, "direct_views": 0, "referral_views": 0,
				"first_view_date": nil, "last_view_date": nil, "view_recency": nil,
				"view_consistency": nil, "seasonal_view_pattern": nil, "mobile_views": 0,
				"desktop_views": 0, "tablet_views": 0, "preferred_device": nil,
				"channel_preference": nil, "interaction_quality_score": 0, "intent_score": 0,
				"loyalty_indicator": 0.2, "recommendation_score": 0.04, "purchase_quantity": 2,
				"purchase_value": 10.0, "last_purchase_date": utcTime("2025-01-01 12:00:00"),
				"purchase_recency": 24,
			},
		},
		{
			name: "cart events",
			events: []Event{
				testEvent("a", "2025-01-01 10:00:00", "cart_add"),
				testEvent("b", "2025-01-01 10:00:01", "add_to_cart"),
				testEvent("c", "2025-01-01 10:00:02", "product_added_to_cart"),
				testEvent("d", "2025-01-01 10:00:03", "product_removed_from_cart"),
				testEvent("e", "2025-01-01 10:00:04", "purchase"),
			},
			want: map[string]any{
				"cart_adds":            3,
				"cart_removes":         1,
				"cart_conversion_rate": 1 / 3.0,
				"intent_score":         0.45 * 2 / 3.0,
				"loyalty_indicator":    0.6 / 3.0,
				"recommendation_score": 0.4*0.3 + 0.2*0.2 - 0.1*0.5,
			},
		},
		{
			name: "more cart removes than adds",
			events: []Event{
				testEvent("a", "2025-01-01 10:00:00", "cart_add"),
				testEvent("b", "2025-01-01 10:00:01", "cart_remove"),
				testEvent("c", "2025-01-01 10:00:02", "cart_remove"),
			},
			want: map[string]any{"intent_score": 0, "recommendation_score": 0},
		},
		{
			name: "rates are capped at 1",
			events: []Event{
				testEvent("a", "2025-01-01 10:00:00", "cart_add"),
				testViewAt("b", "2025-01-01 10:00:01"),
				testEvent("c", "2025-01-01 10:00:02", "purchase"),
				testEvent("d", "2025-01-01 10:00:03", "purchase"),
			},
			want: map[string]any{"cart_conversion_rate": 1.0, "view_to_purchase_rate": 1.0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := asOf
			if tt.asOf != "" {
				at = tt.asOf
			}
			checkColumns(t, Compute(utcTime(at), tt.events, tt.lines), tt.want)
		})
	}
}

// monthlyViews returns one view on the 15th of every month of year.
func monthlyViews(year int) []Event {
	var events []Event
	for m := time.January; m <= time.December; m++ {
		at := time.Date(year, m, 15, 12, 0, 0, 0, time.UTC)
		events = append(events, Event{ID: "m" + strconv.Itoa(int(m)), CreatedAt: at, EventType: "view", ViewDuration: math.NaN()})
	}
	return events
}

// TestComputeUnsorted checks that the order of the input does not matter:
// Compute sorts events itself, and the sorted slice is what it reads.
func TestComputeUnsorted(t *testing.T) {
	t.Parallel()
	asOf, sorted := benchmarkPair()
	want := Compute(asOf, sorted, benchmarkLines())

	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		events := append([]Event(nil), sorted...)
		rng.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
		if i == 0 {
			slices.Reverse(events) // the worst order for a sort.
		}
		if got := Compute(asOf, events, benchmarkLines()); got != want {
			t.Fatalf("shuffle %d: got %+v, want %+v", i, got, want)
		}
		for j := range events {
			if events[j].ID != sorted[j].ID {
				t.Fatalf("shuffle %d: events[%d] is %s after Compute, want %s", i, j, events[j].ID, sorted[j].ID)
			}
		}
	}
}

// TestSortEventsByteOrder checks that events at one instant are ordered by
// ID byte by byte (the "C" collation), upper case before lower case.
func TestSortEventsByteOrder(t *testing.T) {
	t.Parallel()
	at := "2025-01-01 10:00:00"
	events := []Event{testViewAt("b", at), testViewAt("a", at), testViewAt("B", at), testViewAt("a", "2025-01-01 09:59:59.999999"), testViewAt("é", at), testViewAt("ab", at)}
	sortEvents(events)
	var got []string
	for _, e := range events {
		got = append(got, e.ID)
	}
	want := []string{"a", "B", "a", "ab", "b", "é"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if !events[0].CreatedAt.Before(events[1].CreatedAt) {
		t.Errorf("the earlier event is not first")
	}
}

// TestPairExists checks FEATURES.md section 2: any used interaction or order
// purchase at as_of makes a pair, whatever its type.
func TestPairExists(t *testing.T) {
	t.Parallel()
	asOf := utcTime("2025-01-10 00:00:00")
	tests := []struct {
		name   string
		events []Event
		lines  []OrderLine
		want   bool
	}{
		{"nothing", nil, nil, false},
		{"an event of type other", []Event{testEvent("a", "2025-01-01 00:00:00", "page_viewed")}, nil, true},
		{"an event of type NULL", []Event{testEvent("a", "2025-01-01 00:00:00", "")}, nil, true},
		{"an event at as_of", []Event{testEvent("a", "2025-01-10 00:00:00", "view")}, nil, true},
		{"only events after as_of", []Event{testEvent("a", "2025-01-10 00:00:00.000001", "view")}, nil, false},
		{"an order line", nil, []OrderLine{testLine("o", "2025-01-09 00:00:00", 1, 1, 1)}, true},
		{"only order lines after as_of", nil, []OrderLine{testLine("o", "2025-01-11 00:00:00", 1, 1, 1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PairExists(asOf, tt.events, tt.lines); got != tt.want {
				t.Errorf("PairExists = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestComputeDistinctOrdersMap checks that the map used for many lines
// counts the same distinct orders as the pairwise scan.
func TestComputeDistinctOrdersMap(t *testing.T) {
	t.Parallel()
	asOf := utcTime("2025-01-10 00:00:00")
	var lines []OrderLine
	for i := range 3 * maxLinearLines {
		at := "2025-01-01 00:00:00"
		if i%5 == 0 {
			at = "2025-01-11 00:00:00" // after as_of: not counted
		}
		lines = append(lines, testLine("o"+strconv.Itoa(i%50), at, 1, 1, 1))
	}
	want := int64(0)
	seen := make(map[string]bool)
	for _, l := range lines {
		if !l.OrderCreatedAt.After(asOf) && !seen[l.OrderID] {
			seen[l.OrderID] = true
			want++
		}
	}
	if got := distinctOrders(asOf, lines); got != want {
		t.Errorf("distinctOrders over %d lines = %d, want %d", len(lines), got, want)
	}
	if got := distinctOrders(asOf, lines[:maxLinearLines]); got != distinctOrdersByMap(asOf, lines[:maxLinearLines]) {
		t.Errorf("pairwise scan = %d, map = %d", got, distinctOrdersByMap(asOf, lines[:maxLinearLines]))
	}
}

// distinctOrdersByMap is the obvious implementation distinctOrders must
// agree with.
func distinctOrdersByMap(asOf time.Time, lines []OrderLine) int64 {
	seen := make(map[string]bool)
	for _, l := range lines {
		if !l.OrderCreatedAt.After(asOf) {
			seen[l.OrderID] = true
		}
	}
	return int64(len(seen))
}

// TestComputeAllocations checks that Compute allocates nothing for a pair
// whose input is sorted, lower-case and has few distinct referrers, the
// common case of a compute run.
func TestComputeAllocations(t *testing.T) {
	asOf, events := benchmarkPair()
	lines := benchmarkLines()
	if n := testing.AllocsPerRun(100, func() { Compute(asOf, events, lines) }); n != 0 {
		t.Errorf("Compute allocates %v times per call, want 0", n)
	}
}

// benchmarkPair returns a realistic pair: 50 events over two months, in
// (CreatedAt, ID) order, with 35 views, 8 cart adds, 4 removes and 3
// purchases.
func benchmarkPair() (time.Time, []Event) {
	types := []string{"product_viewed", "product_viewed", "product_added_to_cart", "product_viewed", "product_viewed",
		"product_viewed", "product_removed_from_cart", "product_viewed", "product_added_to_cart", "product_viewed"}
	pages := []string{"product", "search", "category", "", "collection", "home"}
	devices := []string{"mobile", "mobile", "desktop", "tablet", "", "phone"}
	referrers := []string{"direct", "internal", "social", "", "email", "search_engine"}
	start := utcTime("2025-03-01 08:00:00")
	events := make([]Event, 0, 50)
	for i := range 50 {
		eventType := types[i%len(types)]
		if i%17 == 16 {
			eventType = "checkout_completed"
		}
		// Bursts of views a few minutes apart, a day or two between bursts.
		at := start.Add(time.Duration(i/5)*37*time.Hour + time.Duration(i%5)*7*time.Minute + time.Duration(i)*time.Microsecond)
		events = append(events, Event{
			ID:           "ev-" + strconv.Itoa(1000+i),
			CreatedAt:    at,
			EventType:    eventType,
			PageType:     pages[i%len(pages)],
			DeviceType:   devices[i%len(devices)],
			ReferrerType: referrers[i%len(referrers)],
			ViewDuration: float64(i*13%200) - 10,
		})
	}
	return start.Add(60 * 24 * time.Hour), events
}

// benchmarkLines returns the two order lines of benchmarkPair.
func benchmarkLines() []OrderLine {
	return []OrderLine{
		testLine("o1", "2025-03-04 10:00:00", 2, 19.99, 21),
		testLine("o2", "2025-03-20 10:00:00", -1, -1, 21),
	}
}

// BenchmarkCompute measures Compute on a realistic pair already in order,
// as the compute run passes it.
func BenchmarkCompute(b *testing.B) {
	asOf, events := benchmarkPair()
	lines := benchmarkLines()
	b.ReportAllocs()
	for b.Loop() {
		Compute(asOf, events, lines)
	}
}
