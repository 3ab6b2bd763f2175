package features

import (
	"math"
	"slices"
	"strings"
	"time"
)

// sessionGap is the longest gap between two views of one session; a strictly
// longer gap starts a new session (FEATURES.md section 3).
const sessionGap = 1800 * time.Second

// secondsPerDay converts Unix seconds to UTC calendar days: Unix time has no
// leap seconds, so every UTC day is exactly this long.
const secondsPerDay = 86400

// maxLinearLines is the number of order lines up to which distinctOrders
// compares order ids pairwise instead of building a map: a pair rarely has
// more than a handful of lines, and the pairwise scan allocates nothing.
const maxLinearLines = 32

// ln12 is the entropy of views spread evenly over the twelve months, the
// largest H of seasonal_view_pattern.
var ln12 = math.Log(12)

// Compute returns the features of one (shop, customer, product) pair at the
// instant asOf, per FEATURES.md sections 3 to 5.
//
// events are the pair's used interactions (non-empty shop, customer and
// product, non-NULL created_at: section 1.2) and lines its order lines, one
// per line_item_data row of the product in an order of the customer, so an
// order may appear on several lines. Compute itself drops events and lines
// created after asOf, so a point-in-time run can pass every row it has.
//
// Views must be read in (CreatedAt, ID) order, IDs compared byte by byte.
// Callers usually pass events in that order already, so Compute only checks
// it, and otherwise sorts events in place: the caller's slice may be
// reordered. Compute keeps no state between calls and is safe for concurrent
// use on distinct slices.
func Compute(asOf time.Time, events []Event, lines []OrderLine) Vector {
	sortEvents(events)

	var views viewStats
	var referrerBuf [8]referrerCount
	referrers := referrerTally(referrerBuf[:0])
	var cartAdds, cartRemoves, eventPurchases int64
	var lastEventPurchase time.Time
	for i := range events {
		e := &events[i]
		if e.CreatedAt.After(asOf) {
			break // events are sorted, so every later one is after asOf too.
		}
		switch NormalizeEventType(e.EventType) {
		case EventView:
			views.add(e)
			referrers = referrers.add(e.ReferrerType)
		case EventCartAdd:
			cartAdds++
		case EventCartRemove:
			cartRemoves++
		case EventPurchase:
			eventPurchases++
			lastEventPurchase = e.CreatedAt // the latest, as events are sorted.
		}
	}
	orders := summarizeOrders(asOf, lines)

	v := views.vector(asOf)
	v.ChannelPreference, v.ReferralViews = referrers.channels()
	v.CartAdds = cartAdds
	v.CartRemoves = cartRemoves
	v.Purchases = max(orders.count, eventPurchases)
	v.PurchaseQuantity = orders.quantity
	v.PurchaseValue = orders.value

	last := orders.last
	if eventPurchases > 0 && (!last.Valid || lastEventPurchase.After(last.V)) {
		last = Some(lastEventPurchase)
	}
	if last.Valid {
		v.LastPurchaseDate = Some(last.V.UTC())
		v.PurchaseRecency = Some(daysBetween(last.V, asOf))
	}

	v.CartConversionRate = rate(v.Purchases, v.CartAdds)
	v.ViewToPurchaseRate = rate(v.Purchases, v.TotalViews)
	// A NULL holds a zero V: the "or 0" of view_duration_avg and
	// view_consistency in the formulas.
	durationScore := sat(v.ViewDurationAvg.V, 60)
	v.EngagementScore = 100 * (0.4*sat(float64(v.TotalViews), 10) +
		0.3*durationScore +
		0.3*sat(float64(v.UniqueViews), 3))
	v.InteractionQualityScore = 100 * (0.5*durationScore +
		0.3*views.deepShare() +
		0.2*v.ViewConsistency.V)
	v.IntentScore = 0.25*sat(float64(v.TotalViews), 5) +
		0.45*sat(float64(max(0, v.CartAdds-v.CartRemoves)), 1) +
		0.30*decay(v.ViewRecency, 7)
	v.LoyaltyIndicator = 0.6*sat(float64(v.Purchases), 2) +
		0.4*sat(float64(views.activeDays), 7)
	v.RecommendationScore = clamp01(0.4*v.IntentScore +
		0.3*v.EngagementScore/100 +
		0.2*v.LoyaltyIndicator +
		0.1*decay(v.ViewRecency, 30) -
		0.1*sat(float64(v.CartRemoves), 1))
	return v
}

// PairExists reports whether the pair gets a row at asOf (FEATURES.md
// section 2): it has a used interaction of any type, or an order purchase,
// created at or before asOf. Compute cannot tell, since a pair with only
// events of type other has the same Vector as no pair at all.
func PairExists(asOf time.Time, events []Event, lines []OrderLine) bool {
	for i := range events {
		if !events[i].CreatedAt.After(asOf) {
			return true
		}
	}
	for i := range lines {
		if !lines[i].OrderCreatedAt.After(asOf) {
			return true
		}
	}
	return false
}

// sortEvents puts events in (CreatedAt, ID) order unless they already are.
// The sort is stable so that events equal on both keys keep the caller's
// order, and the float sums over them stay reproducible.
func sortEvents(events []Event) {
	for i := 1; i < len(events); i++ {
		if compareEvents(&events[i-1], &events[i]) > 0 {
			slices.SortStableFunc(events, func(a, b Event) int { return compareEvents(&a, &b) })
			return
		}
	}
}

// compareEvents orders events by CreatedAt, then by ID byte by byte, as
// Postgres does with the "C" collation. It takes pointers because the
// sortedness check runs on every call and an Event is large to copy.
func compareEvents(a, b *Event) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// viewStats accumulates the views of one pair, fed in (CreatedAt, ID) order.
type viewStats struct {
	total        int64
	sessions     int64
	deepSessions int64
	sessionViews int64 // views in the current session
	durationSum  float64
	durations    int64
	activeDays   int64
	first, last  time.Time
	firstDay     int64
	lastDay      int64
	month        time.Month // month of lastDay
	months       [12]int64
	pages        [PageCollection + 1]int64
	devices      [DeviceTablet + 1]int64
}

// add counts one view. Views arrive in time order, so a new UTC day is
// simply a day different from the previous view's.
func (s *viewStats) add(e *Event) {
	t := e.CreatedAt
	day := utcDay(t)
	if s.total == 0 {
		s.first, s.firstDay = t, day
		s.sessions, s.activeDays = 1, 1
		s.month = t.UTC().Month()
	} else {
		if t.Sub(s.last) > sessionGap {
			s.sessions++
			s.sessionViews = 0
		}
		if day != s.lastDay {
			s.activeDays++
			s.month = t.UTC().Month()
		}
	}
	s.total++
	s.sessionViews++
	if s.sessionViews == 2 {
		s.deepSessions++
	}
	s.last, s.lastDay = t, day
	s.months[s.month-1]++

	if d, ok := ViewDurationSeconds(e.ViewDuration); ok {
		s.durationSum += d
		s.durations++
	}
	s.pages[NormalizePageType(e.PageType)]++
	s.devices[NormalizeDeviceType(e.DeviceType)]++
}

// vector returns a Vector holding the view features.
func (s *viewStats) vector(asOf time.Time) Vector {
	var v Vector
	v.TotalViews = s.total
	v.UniqueViews = s.sessions
	v.SearchViews = s.pages[PageSearch]
	v.CategoryViews = s.pages[PageCategory]
	v.CollectionViews = s.pages[PageCollection]
	v.DirectViews = s.pages[PageDirect]
	v.MobileViews = s.devices[DeviceMobile]
	v.DesktopViews = s.devices[DeviceDesktop]
	v.TabletViews = s.devices[DeviceTablet]
	v.PreferredDevice = s.preferredDevice()
	if s.durations > 0 {
		v.ViewDurationAvg = Some(s.durationSum / float64(s.durations))
	}
	if s.total == 0 {
		return v
	}
	span := s.lastDay - s.firstDay + 1
	v.ViewFrequency = float64(s.total) / float64(span)
	v.FirstViewDate = Some(s.first.UTC())
	v.LastViewDate = Some(s.last.UTC())
	v.ViewRecency = Some(daysBetween(s.last, asOf))
	v.ViewConsistency = Some(float64(s.activeDays) / float64(span))
	v.SeasonalViewPattern = Some(s.seasonality())
	return v
}

// preferredDevice returns the device with the most views, the first of
// mobile, desktop, tablet on a tie, and NULL without any.
func (s *viewStats) preferredDevice() Null[string] {
	best, most := DeviceNull, int64(0)
	for _, d := range [...]DeviceType{DeviceMobile, DeviceDesktop, DeviceTablet} {
		if s.devices[d] > most {
			best, most = d, s.devices[d]
		}
	}
	if best == DeviceNull {
		return Null[string]{}
	}
	return Some(best.String())
}

// deepShare is the share of sessions with two or more views, 0 without
// sessions.
func (s *viewStats) deepShare() float64 {
	if s.sessions == 0 {
		return 0
	}
	return float64(s.deepSessions) / float64(s.sessions)
}

// seasonality is seasonal_view_pattern, 1 - H/ln(12). It is clamped to
// [0, 1] because views spread evenly over the twelve months can round H a
// hair above ln(12).
func (s *viewStats) seasonality() float64 {
	var h float64
	for _, n := range s.months {
		if n > 0 {
			p := float64(n) / float64(s.total)
			h -= p * math.Log(p)
		}
	}
	return clamp01(1 - h/ln12)
}

// referrerTally counts views per normalised referrer. A pair sees only a few
// distinct referrers, so a short slice, which Compute backs with a stack
// array, beats a map. It lives outside viewStats, and add returns it rather
// than appending through a pointer, so that the stack array does not escape.
type referrerTally []referrerCount

// referrerCount is the number of views with one normalised referrer.
type referrerCount struct {
	name  string
	views int64
}

// add counts one view with the raw referrer_type, if it is not NULL. It
// compares the trimmed text with the names seen so far without lower-casing
// it, so only the first view of each distinct referrer may allocate.
func (t referrerTally) add(raw string) referrerTally {
	key := trimBlank(raw)
	if key == "" {
		return t
	}
	if !isASCII(key) {
		// A non-ASCII lower case can change the length: compare it whole.
		key = strings.ToLower(key)
	}
	for i := range t {
		if equalLowerASCII(key, t[i].name) {
			t[i].views++
			return t
		}
	}
	return append(t, referrerCount{name: strings.ToLower(key), views: 1})
}

// equalLowerASCII reports whether s equals lower once the ASCII letters of s
// are lower-cased; lower must already be lower-case.
func equalLowerASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerASCII(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// channels returns channel_preference, the referrer of the most views with
// the byte-wise smallest name on a tie, and referral_views, the views with
// an external referrer (neither direct nor internal).
func (t referrerTally) channels() (preference Null[string], external int64) {
	var best *referrerCount
	for i := range t {
		r := &t[i]
		if best == nil || r.views > best.views || (r.views == best.views && r.name < best.name) {
			best = r
		}
		if r.name != "direct" && r.name != "internal" {
			external += r.views
		}
	}
	if best != nil {
		preference = Some(best.name)
	}
	return preference, external
}

// orderStats summarises the order lines of a pair at asOf (FEATURES.md
// section 4 and purchase_quantity, purchase_value).
type orderStats struct {
	count    int64
	quantity int64
	value    float64
	last     Null[time.Time]
}

// summarizeOrders sums the lines created at or before asOf, in slice order so
// that purchase_value is reproducible.
func summarizeOrders(asOf time.Time, lines []OrderLine) orderStats {
	s := orderStats{count: distinctOrders(asOf, lines)}
	for i := range lines {
		l := &lines[i]
		if l.OrderCreatedAt.After(asOf) {
			continue
		}
		quantity := int64(1)
		if l.Quantity.Valid {
			quantity = l.Quantity.V
		}
		var price float64
		switch {
		case l.Price.Valid:
			price = l.Price.V
		case l.ProductPrice.Valid:
			price = l.ProductPrice.V
		}
		s.quantity += quantity
		s.value += float64(quantity) * price
		if !s.last.Valid || l.OrderCreatedAt.After(s.last.V) {
			s.last = Some(l.OrderCreatedAt)
		}
	}
	return s
}

// distinctOrders counts the distinct order ids among the lines created at or
// before asOf.
func distinctOrders(asOf time.Time, lines []OrderLine) int64 {
	if len(lines) > maxLinearLines {
		seen := make(map[string]struct{}, len(lines))
		for i := range lines {
			if !lines[i].OrderCreatedAt.After(asOf) {
				seen[lines[i].OrderID] = struct{}{}
			}
		}
		return int64(len(seen))
	}
	var n int64
	for i := range lines {
		if !lines[i].OrderCreatedAt.After(asOf) && !hasOrder(asOf, lines[:i], lines[i].OrderID) {
			n++
		}
	}
	return n
}

// hasOrder reports whether a line of lines created at or before asOf belongs
// to the order id.
func hasOrder(asOf time.Time, lines []OrderLine, id string) bool {
	for i := range lines {
		if lines[i].OrderID == id && !lines[i].OrderCreatedAt.After(asOf) {
			return true
		}
	}
	return false
}

// utcDay is the number of the UTC calendar day of t, counted from 1970-01-01.
func utcDay(t time.Time) int64 {
	return floorDiv(t.Unix(), secondsPerDay)
}

// daysBetween is floor((b - a) / 86400 s), computed on whole seconds and
// nanoseconds apart so that it is exact and cannot overflow a Duration.
func daysBetween(a, b time.Time) int64 {
	seconds := b.Unix() - a.Unix()
	if b.Nanosecond() < a.Nanosecond() {
		seconds-- // borrow: the fraction of a second left is in (0, 1).
	}
	return floorDiv(seconds, secondsPerDay)
}

// floorDiv is a / b rounded towards negative infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// rate is min(1, n / d), and 0 when d is 0.
func rate(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return min(1, float64(n)/float64(d))
}

// sat is x / (x + k), a saturation that maps [0, inf) onto [0, 1).
func sat(x, k float64) float64 {
	return x / (x + k)
}

// decay is 0.5 ** (d / h), a half-life of h days, and 0 for a NULL d.
func decay(d Null[int64], h float64) float64 {
	if !d.Valid {
		return 0
	}
	return math.Pow(0.5, float64(d.V)/h)
}

// clamp01 is min(1, max(0, x)).
func clamp01(x float64) float64 {
	return min(1, max(0, x))
}
