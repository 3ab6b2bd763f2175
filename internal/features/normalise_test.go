package features

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// aliasCase is one raw value and the canonical value it must map to.
type aliasCase[T comparable] struct {
	raw  string
	want T
}

// blanks is every byte FEATURES.md 1.3 trims.
const blanks = " \t\n\r\v\f"

// spellingVariants returns raw as the data spells it in practice: as is,
// upper-case, with a capital first letter, and padded with blanks.
func spellingVariants(raw string) []string {
	r, size := utf8.DecodeRuneInString(raw)
	title := strings.ToUpper(string(r)) + raw[size:]
	if raw == "" {
		title = ""
	}
	return []string{
		raw,
		strings.ToUpper(raw),
		title,
		" " + raw + " ",
		blanks + strings.ToUpper(raw) + blanks,
		"\t" + title + "\r\n",
	}
}

// testAliases checks normalize on every case and every spelling variant of
// it.
func testAliases[T comparable](t *testing.T, normalize func(string) T, cases []aliasCase[T]) {
	t.Helper()
	for _, c := range cases {
		for _, raw := range spellingVariants(c.raw) {
			t.Run(raw, func(t *testing.T) {
				if got := normalize(raw); got != c.want {
					t.Errorf("normalize(%q) = %v, want %v", raw, got, c.want)
				}
			})
		}
	}
}

// TestNormalizeEventType checks every row of the event_type table of
// FEATURES.md 1.3, other for unknown values and NULL for empty ones.
func TestNormalizeEventType(t *testing.T) {
	t.Parallel()
	testAliases(t, NormalizeEventType, []aliasCase[EventType]{
		{"product_viewed", EventView},
		{"product_view", EventView},
		{"view", EventView},
		{"product_added_to_cart", EventCartAdd},
		{"add_to_cart", EventCartAdd},
		{"cart_add", EventCartAdd},
		{"product_removed_from_cart", EventCartRemove},
		{"remove_from_cart", EventCartRemove},
		{"cart_remove", EventCartRemove},
		{"checkout_completed", EventPurchase},
		{"purchase", EventPurchase},
		{"order_completed", EventPurchase},
		{"page_viewed", EventOther},
		{"collection_viewed", EventOther},
		{"search_submitted", EventOther},
		{"product-viewed", EventOther},
		{"views", EventOther},
		{"vie w", EventOther},
		{"other", EventOther},
		{"\u00a0view", EventOther}, // no-break space is not trimmed
		{"vïew", EventOther},
		{"a_value_longer_than_any_event_type_spelling", EventOther},
		{"", EventNull},
	})
}

// TestNormalizePageType checks every row of the page_type table, NULL and
// empty being direct.
func TestNormalizePageType(t *testing.T) {
	t.Parallel()
	testAliases(t, NormalizePageType, []aliasCase[PageType]{
		{"search", PageSearch},
		{"search_results", PageSearch},
		{"category", PageCategory},
		{"product_type", PageCategory},
		{"collection", PageCollection},
		{"collections", PageCollection},
		{"product", PageDirect},
		{"direct", PageDirect},
		{"", PageDirect},
		{"home", PageOther},
		{"cart", PageOther},
		{"searches", PageOther},
		{"other", PageOther},
	})
}

// TestNormalizeDeviceType checks every row of the device_type table.
func TestNormalizeDeviceType(t *testing.T) {
	t.Parallel()
	testAliases(t, NormalizeDeviceType, []aliasCase[DeviceType]{
		{"mobile", DeviceMobile},
		{"phone", DeviceMobile},
		{"smartphone", DeviceMobile},
		{"desktop", DeviceDesktop},
		{"pc", DeviceDesktop},
		{"laptop", DeviceDesktop},
		{"tablet", DeviceTablet},
		{"ipad", DeviceTablet},
		{"tv", DeviceOther},
		{"iphone", DeviceOther},
		{"other", DeviceOther},
		{"", DeviceNull},
	})
}

// TestNormalizeReferrer checks that referrers are trimmed and lower-cased
// but not mapped, and that empty is NULL.
func TestNormalizeReferrer(t *testing.T) {
	t.Parallel()
	type result struct {
		text  string
		valid bool
	}
	normalize := func(raw string) result {
		s, ok := NormalizeReferrer(raw)
		return result{s, ok}
	}
	testAliases(t, normalize, []aliasCase[result]{
		{"social", result{"social", true}},
		{"direct", result{"direct", true}},
		{"internal", result{"internal", true}},
		{"search_engine", result{"search_engine", true}},
		{"some new source", result{"some new source", true}},
		{"", result{"", false}},
	})
	if got := normalize("Ünïcode"); got != (result{"ünïcode", true}) {
		t.Errorf("NormalizeReferrer(%q) = %v, want lower-case Unicode", "Ünïcode", got)
	}
}

// TestCanonicalNames checks that every canonical value spells as
// FEATURES.md does and maps back to itself.
func TestCanonicalNames(t *testing.T) {
	t.Parallel()
	events := map[EventType]string{EventNull: "", EventOther: "other", EventView: "view",
		EventCartAdd: "cart_add", EventCartRemove: "cart_remove", EventPurchase: "purchase"}
	pages := map[PageType]string{PageDirect: "direct", PageOther: "other", PageSearch: "search",
		PageCategory: "category", PageCollection: "collection"}
	devices := map[DeviceType]string{DeviceNull: "", DeviceOther: "other", DeviceMobile: "mobile",
		DeviceDesktop: "desktop", DeviceTablet: "tablet"}
	checkCanonicalNames(t, events, NormalizeEventType)
	checkCanonicalNames(t, pages, NormalizePageType)
	checkCanonicalNames(t, devices, NormalizeDeviceType)
}

// checkCanonicalNames checks String and normalize against names.
func checkCanonicalNames[T interface {
	comparable
	String() string
}](t *testing.T, names map[T]string, normalize func(string) T) {
	t.Helper()
	for v, name := range names {
		if v.String() != name {
			t.Errorf("%T(%#v).String() = %q, want %q", v, v, v.String(), name)
		}
		if got := normalize(name); got != v {
			t.Errorf("normalize(%q) = %v, want %v", name, got, v)
		}
	}
}

// TestViewDurationSeconds checks the missing and cap rules of
// view_duration.
func TestViewDurationSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   float64
		want float64
		ok   bool
	}{
		{"NULL or NaN", math.NaN(), 0, false},
		{"+Inf", math.Inf(1), 0, false},
		{"-Inf", math.Inf(-1), 0, false},
		{"negative", -0.001, 0, false},
		{"negative zero", math.Copysign(0, -1), 0, true},
		{"zero", 0, 0, true},
		{"ordinary", 42.5, 42.5, true},
		{"at the cap", 1800, 1800, true},
		{"over the cap", 1800.000001, 1800, true},
		{"huge", math.MaxFloat64, 1800, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ViewDurationSeconds(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ViewDurationSeconds(%v) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// normalised keeps the allocation test's results alive: a call whose result
// is dropped may be optimised away, and would then allocate nothing however
// the function is written.
var normalised struct {
	event    EventType
	page     PageType
	device   DeviceType
	referrer string
	ok       bool
}

// TestNormalizeAllocations checks that the normalisers allocate nothing for
// ASCII input, padded and mixed-case included: they run once per event.
func TestNormalizeAllocations(t *testing.T) {
	inputs := []string{"product_viewed", "  Product_Viewed\t", "SEARCH_RESULTS", "iPad", "tv", strings.Repeat("X", 100)}
	for _, raw := range inputs {
		n := testing.AllocsPerRun(100, func() {
			normalised.event = NormalizeEventType(raw)
			normalised.page = NormalizePageType(raw)
			normalised.device = NormalizeDeviceType(raw)
		})
		if n != 0 {
			t.Errorf("normalising %q allocates %v times, want 0", raw, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { normalised.referrer, normalised.ok = NormalizeReferrer(" social\n") }); n != 0 {
		t.Errorf("NormalizeReferrer of lower-case text allocates %v times, want 0", n)
	}
}

// FuzzNormalize checks that the normalisers never panic, always return a
// canonical value, agree with the plain trim-and-lower-case definition, and
// are idempotent on their own output.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", " ", "view", " Product_Viewed ", "iPad", "Search_Results", "\u212Aelvin", "\xff", "İ", "x\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		plain := strings.ToLower(strings.Trim(raw, blanks))
		checkNormalizer(t, raw, plain, NormalizeEventType, EventPurchase)
		checkNormalizer(t, raw, plain, NormalizePageType, PageCollection)
		checkNormalizer(t, raw, plain, NormalizeDeviceType, DeviceTablet)

		s, ok := NormalizeReferrer(raw)
		if ok != (s != "") || s != plain {
			t.Errorf("NormalizeReferrer(%q) = %q, %v, want %q", raw, s, ok, plain)
		}
		if again, _ := NormalizeReferrer(s); again != s {
			t.Errorf("NormalizeReferrer(%q) = %q, not idempotent", s, again)
		}
	})
}

// checkNormalizer checks one normaliser on raw, whose trimmed lower-case
// form is plain; last is its largest canonical value.
func checkNormalizer[T interface {
	~uint8
	String() string
}](t *testing.T, raw, plain string, normalize func(string) T, last T) {
	t.Helper()
	got := normalize(raw)
	if got > last {
		t.Fatalf("normalize(%q) = %d, not a canonical value", raw, got)
	}
	if slow := normalize(plain); slow != got {
		t.Errorf("normalize(%q) = %v but normalize(%q) = %v", raw, got, plain, slow)
	}
	if again := normalize(got.String()); again != got {
		t.Errorf("normalize(%q) = %v, not idempotent", got.String(), again)
	}
}

// TestAliasSpellings checks what mapAlias assumes of the tables: every
// spelling is trimmed lower-case ASCII, no longer than maxAliasLen, and
// listed once.
func TestAliasSpellings(t *testing.T) {
	t.Parallel()
	checkSpellings(t, eventAliases[:])
	checkSpellings(t, pageAliases[:])
	checkSpellings(t, deviceAliases[:])
}

// checkSpellings checks one alias table for TestAliasSpellings.
func checkSpellings[T ~uint8](t *testing.T, aliases []alias[T]) {
	t.Helper()
	seen := make(map[string]bool)
	for _, a := range aliases {
		if !isLowerASCII(a.spelling) || trimBlank(a.spelling) != a.spelling || len(a.spelling) > maxAliasLen || seen[a.spelling] {
			t.Errorf("spelling %q is not unique trimmed lower-case ASCII of at most %d bytes", a.spelling, maxAliasLen)
		}
		seen[a.spelling] = true
	}
}
