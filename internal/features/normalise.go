package features

import (
	"math"
	"strings"
	"unicode/utf8"
)

// EventType is the canonical event_type of an interaction (FEATURES.md 1.3).
// The zero value is EventNull, so an unset EventType reads as NULL.
type EventType uint8

// The canonical event types. EventOther is a non-empty value that no alias
// matches: the event is kept (it can create a pair) but counts in no bucket.
const (
	EventNull EventType = iota
	EventOther
	EventView
	EventCartAdd
	EventCartRemove
	EventPurchase
)

// PageType is the canonical page_type of an interaction (FEATURES.md 1.3).
// It has no NULL: a NULL or empty page_type is PageDirect, which is why
// PageDirect is the zero value.
type PageType uint8

// The canonical page types. PageOther is a value that no alias matches.
const (
	PageDirect PageType = iota
	PageOther
	PageSearch
	PageCategory
	PageCollection
)

// DeviceType is the canonical device_type of an interaction (FEATURES.md 1.3).
// The zero value is DeviceNull.
type DeviceType uint8

// The canonical device types. DeviceOther is a value that no alias matches.
const (
	DeviceNull DeviceType = iota
	DeviceOther
	DeviceMobile
	DeviceDesktop
	DeviceTablet
)

// MaxViewDuration is the cap, in seconds, on one view's duration: a longer
// view is a tab left open, not attention.
const MaxViewDuration = 1800

// alias maps one accepted, normalised spelling to its canonical value. The
// empty spelling says what NULL and blank values become.
type alias[T ~uint8] struct {
	spelling  string
	canonical T
}

// eventAliases lists the event_type spellings, the most frequent first
// because lookupAlias scans in order.
var eventAliases = [...]alias[EventType]{
	{"product_viewed", EventView},
	{"product_added_to_cart", EventCartAdd},
	{"product_removed_from_cart", EventCartRemove},
	{"checkout_completed", EventPurchase},
	{"product_view", EventView},
	{"view", EventView},
	{"add_to_cart", EventCartAdd},
	{"cart_add", EventCartAdd},
	{"remove_from_cart", EventCartRemove},
	{"cart_remove", EventCartRemove},
	{"purchase", EventPurchase},
	{"order_completed", EventPurchase},
	{"", EventNull},
}

// pageAliases lists the page_type spellings; NULL and empty are direct.
var pageAliases = [...]alias[PageType]{
	{"product", PageDirect},
	{"search", PageSearch},
	{"category", PageCategory},
	{"collection", PageCollection},
	{"", PageDirect},
	{"direct", PageDirect},
	{"search_results", PageSearch},
	{"product_type", PageCategory},
	{"collections", PageCollection},
}

// deviceAliases lists the device_type spellings.
var deviceAliases = [...]alias[DeviceType]{
	{"mobile", DeviceMobile},
	{"desktop", DeviceDesktop},
	{"tablet", DeviceTablet},
	{"", DeviceNull},
	{"phone", DeviceMobile},
	{"smartphone", DeviceMobile},
	{"pc", DeviceDesktop},
	{"laptop", DeviceDesktop},
	{"ipad", DeviceTablet},
}

// maxAliasLen bounds the stack buffer in which mapAlias lower-cases a value;
// it is at least the length of the longest spelling above, so a longer ASCII
// value cannot match any of them.
const maxAliasLen = 32

// NormalizeEventType maps a raw event_type to its canonical value. It never
// allocates for ASCII input, because it runs once per interaction.
func NormalizeEventType(raw string) EventType {
	return mapAlias(raw, eventAliases[:], EventOther)
}

// NormalizePageType maps a raw page_type to its canonical value; NULL and
// empty are PageDirect. It never allocates for ASCII input.
func NormalizePageType(raw string) PageType {
	return mapAlias(raw, pageAliases[:], PageOther)
}

// NormalizeDeviceType maps a raw device_type to its canonical value. It never
// allocates for ASCII input.
func NormalizeDeviceType(raw string) DeviceType {
	return mapAlias(raw, deviceAliases[:], DeviceOther)
}

// NormalizeReferrer returns the raw referrer_type trimmed and lower-cased, and
// false when that leaves it empty (NULL). Referrers have no map, so the text
// itself is the canonical value; it is a substring of raw, without
// allocation, whenever raw holds no upper-case letter.
func NormalizeReferrer(raw string) (string, bool) {
	s := strings.ToLower(trimBlank(raw))
	return s, s != ""
}

// ViewDurationSeconds applies the view_duration rule of FEATURES.md 1.3: it
// returns the duration capped at MaxViewDuration, and false when the
// duration is missing (NaN, which also stands for NULL, infinite or
// negative).
func ViewDurationSeconds(d float64) (float64, bool) {
	if math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
		return 0, false
	}
	return min(d, MaxViewDuration), true
}

// String returns the canonical name of e as FEATURES.md spells it, and ""
// for EventNull.
func (e EventType) String() string {
	switch e {
	case EventOther:
		return "other"
	case EventView:
		return "view"
	case EventCartAdd:
		return "cart_add"
	case EventCartRemove:
		return "cart_remove"
	case EventPurchase:
		return "purchase"
	}
	return ""
}

// String returns the canonical name of p as FEATURES.md spells it.
func (p PageType) String() string {
	switch p {
	case PageDirect:
		return "direct"
	case PageSearch:
		return "search"
	case PageCategory:
		return "category"
	case PageCollection:
		return "collection"
	}
	return "other"
}

// String returns the canonical name of d as FEATURES.md spells it, and ""
// for DeviceNull. preferred_device stores it, so it must not change.
func (d DeviceType) String() string {
	switch d {
	case DeviceOther:
		return "other"
	case DeviceMobile:
		return "mobile"
	case DeviceDesktop:
		return "desktop"
	case DeviceTablet:
		return "tablet"
	}
	return ""
}

// mapAlias trims and lower-cases raw and looks it up in aliases, returning
// other when nothing matches. It tries the trimmed value as is first, since
// most data is spelled canonically already. Other ASCII values are
// lower-cased in a stack buffer, or are other when too long for any
// spelling, so ASCII input never allocates; only non-ASCII values, whose
// lower case can change their length, go through strings.ToLower.
func mapAlias[T ~uint8](raw string, aliases []alias[T], other T) T {
	s := trimBlank(raw)
	if c, ok := lookupAlias(s, aliases); ok {
		return c
	}
	if isLowerASCII(s) {
		return other
	}
	if !isASCII(s) {
		return lookupOther(strings.ToLower(s), aliases, other)
	}
	if len(s) > maxAliasLen {
		return other
	}
	var buf [maxAliasLen]byte
	for i := 0; i < len(s); i++ {
		buf[i] = lowerASCII(s[i])
	}
	// The conversion does not escape lookupOther, so it stays on the stack.
	return lookupOther(string(buf[:len(s)]), aliases, other)
}

// lookupAlias returns the canonical value of the normalised spelling s, and
// false when no alias has that spelling. A linear scan beats a map here: the
// tables are a dozen entries long and their most frequent spellings come
// first.
func lookupAlias[T ~uint8](s string, aliases []alias[T]) (T, bool) {
	for _, a := range aliases {
		if a.spelling == s {
			return a.canonical, true
		}
	}
	return 0, false
}

// lookupOther is lookupAlias with other for a spelling no alias has.
func lookupOther[T ~uint8](s string, aliases []alias[T], other T) T {
	if c, ok := lookupAlias(s, aliases); ok {
		return c
	}
	return other
}

// trimBlank removes the surrounding spaces, tabs and line breaks that
// FEATURES.md 1.3 trims (space, \t, \n, \v, \f, \r); unlike strings.TrimSpace
// it leaves Unicode spaces alone, as the contract names only these.
func trimBlank(s string) string {
	for len(s) > 0 && isBlank(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isBlank(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// isBlank reports whether c is one of the bytes trimBlank removes.
func isBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// isLowerASCII reports whether s is ASCII without upper-case letters, that
// is whether lower-casing would leave it unchanged.
func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases c if it is an ASCII upper-case letter.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isASCII reports whether s holds only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
