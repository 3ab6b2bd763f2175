package demo

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Funnel rates of browsing sessions. With the adds to cart of the checkout
// funnels on top they give about 100 views : 8 adds to cart : 2 removals.
// Checkouts come from the configured orders alone, one per tracked order
// line: about 2 per 100 views in the default shop.
const (
	cartAddRate    = 0.082 // of the events that follow a product view
	cartRemoveRate = 0.52  // of browsing adds to cart; about half of those end the session first
	revisitRate    = 0.2   // a view returns to a product seen earlier in the session
	favouriteRate  = 0.3   // a customer's view goes to one of their favourites
)

// event is one user_interactions row before boxing. While a session is
// built, at is the offset from the session's first event.
type event struct {
	at       int64
	duration float64 // NaN is NULL
	product  int32   // -1 is NULL
	kind     uint8
	page     uint8
	device   uint8
	referrer uint8
	// loggedOut says that the row names no customer, only its browser.
	loggedOut bool
}

// eventSource yields user_interactions rows slot by slot. A customer's
// events (their checkout sessions, then their browsing sessions) are
// buffered and written in the order of the pair index, (product,
// created_at), so that with customers in gid order the index only ever
// appends, which saves about a quarter of the COPY's time. The buffer holds
// one customer's events, so memory follows the busiest customer, not the
// number of events. Anonymous events stream a session at a time.
//
// Every row carries the client id of its browser, one per customer and
// device (a visitor never identified gets one per session). The identity
// draws come from a stream of their own, so that the rows are those of a
// shop without client ids but for the customer ids they leave out.
type eventSource struct {
	p        *plan
	s        *stream
	ids      *stream // identity draws
	pr       profile
	slot     int
	customer any
	// clients are the slot's client ids by device; the anonymous slot's
	// session has clients[0].
	clients [deviceTablet + 1]any
	// loggedOut says that the customer browses without logging in;
	// loginAt is the session's event from which it is logged in.
	loggedOut bool
	loginAt   int
	sessions  int64 // sessions of the anonymous slot so far
	orders    []order
	lines     []line
	order     int   // the next of orders to consider
	browse    int64 // events left for browsing sessions

	session []event // the session being built
	clock   int64   // offset of the next event in the session
	out     []event // the events ready to emit
	pos     int     // the next of out to emit

	// Session state.
	device, landing uint8
	lastView        int32   // the product of the previous event when it was a view, else -1
	viewed          []int32 // the session's products so far, for revisits
	pendingRemove   int32   // a product to take out of the cart later, else -1
	removeIn        int

	seq int64
	id  []byte
	pre int // length of the id prefix
}

func newEventSource(p *plan) *eventSource {
	g := &eventSource{p: p, s: newStream(), ids: newStream(), slot: -1}
	g.id = append(g.id, p.cfg.ShopID+"/ev-"...)
	g.pre = len(g.id)
	return g
}

func (g *eventSource) next(out []any) bool {
	for g.pos >= len(g.out) {
		if !g.fill() {
			return false
		}
	}
	e := &g.out[g.pos]
	g.pos++
	g.seq++
	out[0] = g.eventID()
	out[1] = g.p.shop
	out[2] = g.customer
	if e.loggedOut {
		out[2] = nil
	}
	out[10] = g.clients[0]
	if !g.anonymous() {
		out[10] = g.clients[e.device]
	}
	if e.product >= 0 {
		out[3] = g.p.products[e.product].gid
	} else {
		out[3] = nil
	}
	out[4] = eventNames[e.kind]
	out[5] = pageNames[e.page]
	out[6] = deviceNames[e.device]
	out[7] = referrerNames[e.referrer]
	if math.IsNaN(e.duration) {
		out[8] = nil
	} else {
		out[8] = e.duration
	}
	out[9] = micros(e.at)
	return true
}

// eventID returns the shop-prefixed, zero-padded event number. The padding
// makes ids ascend byte by byte as they are written, so the primary key
// index only ever appends.
func (g *eventSource) eventID() string {
	g.id = g.id[:g.pre]
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], g.seq, 10)
	for range 10 - len(d) {
		g.id = append(g.id, '0')
	}
	g.id = append(g.id, d...)
	return string(g.id)
}

// fill refills out with a customer's events or an anonymous session, moving
// on to the next slot when the current one is done; it returns false after
// the last slot.
func (g *eventSource) fill() bool {
	g.out, g.pos = g.out[:0], 0
	for {
		if g.slot >= 0 && g.buildSession() {
			g.out = append(g.out, g.session...)
			if g.anonymous() {
				return true
			}
			continue
		}
		if len(g.out) > 0 {
			slices.SortStableFunc(g.out, pairOrder)
			return true
		}
		if g.slot+1 >= len(g.p.slots) {
			return false
		}
		g.load(g.slot + 1)
	}
}

// pairOrder orders a customer's events as the pair index does: by product
// (gids have a fixed width, so their order is the products' index order;
// NULL last), then by time.
func pairOrder(a, b event) int {
	pa, pb := uint32(a.product), uint32(b.product) // -1 (NULL) becomes the largest
	if pa != pb {
		return cmp.Compare(pa, pb)
	}
	return cmp.Compare(a.at, b.at)
}

// buildSession builds the slot's next session into session: a checkout
// session per tracked order, then browsing sessions until the slot's events
// are spent. It returns false when the slot is done.
func (g *eventSource) buildSession() bool {
	for g.order < len(g.orders) && !g.orders[g.order].tracked {
		g.order++
	}
	if g.order < len(g.orders) {
		g.checkoutSession(&g.orders[g.order])
		g.order++
		return true
	}
	if g.browse > 0 {
		g.browseSession()
		return true
	}
	return false
}

// load regenerates slot i's profile and orders and decides which orders
// have their checkout funnel among the events: in order, while the slot's
// events last. What is left goes to browsing.
func (g *eventSource) load(i int) {
	g.slot = i
	g.p.profile(g.s, i, &g.pr)
	g.orders, g.lines = g.p.orders(g.s, i, &g.pr, g.orders[:0], g.lines[:0])
	budget := g.p.slots[i].events
	for j := range g.orders {
		o := &g.orders[j]
		cost := funnelEventsPerLine * int64(o.last-o.first)
		o.tracked = cost <= budget
		if o.tracked {
			budget -= cost
		}
	}
	g.browse, g.order = budget, 0
	g.customer = nil
	g.ids.reset(g.p.cfg.Seed, domainIdentity, uint64(i))
	g.loggedOut = false
	if i != g.p.anonymous() {
		g.customer = g.p.customers[i]
		g.loggedOut = g.ids.chance(loggedOutShare)
		for d := range g.clients {
			g.clients[d] = g.p.clientID(i, int64(d))
		}
	}
	g.s.reset(g.p.cfg.Seed, domainEvents, uint64(i))
}

func (g *eventSource) anonymous() bool { return g.slot == g.p.anonymous() }

// startSession clears the session and picks its device and the referrer it
// landed from. A customer mostly uses one device; anonymous sessions are
// each a different visitor.
func (g *eventSource) startSession() {
	g.session, g.clock = g.session[:0], 0
	g.viewed, g.lastView, g.pendingRemove = g.viewed[:0], -1, -1
	g.loginAt = 0
	switch {
	case g.anonymous():
		g.clients[0] = g.p.clientID(g.slot, g.sessions)
		g.sessions++
	case g.loggedOut:
		g.loginAt = math.MaxInt
		if g.ids.chance(loginRate) {
			g.loginAt = g.ids.IntN(4) // after a few pages
		}
	}
	if g.anonymous() || !g.s.chance(0.6) {
		g.device = uint8(deviceMix.pick(g.s))
	} else {
		g.device = uint8(g.pr.device)
	}
	g.landing = uint8(landingRefMix.pick(g.s))
}

// browseSession builds a session of browsing alone and places it at an
// instant drawn from the shop's traffic pattern.
func (g *eventSource) browseSession() {
	g.startSession()
	mean, limit := 4.5, 60
	if g.anonymous() {
		mean, limit = 1.8, 20
	}
	n := min(g.browse, int64(g.s.geometric(mean, limit)))
	g.browse -= n
	g.browseEvents(int(n))
	span := g.session[len(g.session)-1].at
	start := g.p.timeline.sample(g.s, g.pr.active, g.p.end)
	if start+span > g.p.end {
		start = g.p.end - span
	}
	g.place(start)
}

// checkoutSession builds the session that ends in order o: maybe some
// browsing, a view and an add to cart of every line, and a checkout_completed
// per line at the order's instant.
func (g *eventSource) checkoutSession(o *order) {
	g.startSession()
	extra := min(g.browse, int64(g.s.geometric(2, 20)-1))
	g.browse -= extra
	g.browseEvents(int(extra))
	for _, l := range g.lines[o.first:o.last] {
		g.view(l.product)
		g.add(evCartAdd, l.product, g.cartAddPage(), math.NaN())
	}
	// Checkout takes a minute or a few.
	g.clock += 30_000_000 + int64(g.s.ExpFloat64()*120_000_000)
	// The completed checkout names its order's customer, logged in or not.
	for _, l := range g.lines[o.first:o.last] {
		g.session = append(g.session, event{
			at: g.clock, duration: math.NaN(), product: l.product, kind: evPurchase,
			page: pageCheckout, device: g.device, referrer: refInternal, loggedOut: g.anonymous(),
		})
	}
	g.place(o.at - g.clock)
}

// place turns the session's offsets into instants from start, kept inside
// the history (a session whose start was pushed before it is squeezed).
func (g *eventSource) place(start int64) {
	for i := range g.session {
		g.session[i].at = min(max(start+g.session[i].at, g.p.start), g.p.end)
	}
}

// browseEvents appends n browsing events: product views, with adds to cart
// after some of them, removals after some of those, and page-level events.
func (g *eventSource) browseEvents(n int) {
	pageRate := 0.04
	if g.anonymous() {
		pageRate = 0.06
	}
	for range n {
		if g.pendingRemove >= 0 {
			if g.removeIn == 0 {
				g.add(evCartRemove, g.pendingRemove, pageCart, math.NaN())
				g.pendingRemove = -1
				continue
			}
			g.removeIn--
		}
		first := len(g.session) == 0
		switch {
		case g.lastView >= 0 && g.s.chance(cartAddRate):
			prod := g.lastView
			g.add(evCartAdd, prod, g.cartAddPage(), math.NaN())
			if g.pendingRemove < 0 && g.s.chance(cartRemoveRate) {
				g.pendingRemove, g.removeIn = prod, g.s.IntN(3)
			}
		case first && g.s.chance(5*pageRate), !first && g.s.chance(pageRate):
			g.pageEvent()
		default:
			g.view(g.pickView())
		}
	}
}

// pickView chooses the product of a browsing view.
func (g *eventSource) pickView() int32 {
	if len(g.viewed) > 0 && g.s.chance(revisitRate) {
		return g.viewed[g.s.IntN(len(g.viewed))]
	}
	return g.p.pickProduct(g.s, g.pr.favs, favouriteRate)
}

// view appends a product view. The session's first is the landing page: a
// product page, or for a visitor sent by a campaign or a search engine now
// and then a collection or the home page; later views are reached from
// collections, searches, other products and the like.
func (g *eventSource) view(prod int32) {
	page := pageProduct
	if len(g.session) > 0 {
		page = viewPages[viewPageMix.pick(g.s)]
	} else if g.landing != refDirect {
		page = landingPages[landingMix.pick(g.s)]
	}
	g.add(evView, prod, page, g.viewDuration())
	if len(g.viewed) < 16 && !slices.Contains(g.viewed, prod) {
		g.viewed = append(g.viewed, prod)
	}
	g.lastView = prod
}

// pageEvent appends an event with no product.
func (g *eventSource) pageEvent() {
	kind := pageEvents[pageEventMix.pick(g.s)]
	var page int
	switch kind {
	case evPageViewed:
		page = pageViewPages[pageViewMix.pick(g.s)]
	case evCollectionViewed:
		page = pageCollection
	case evSearchSubmitted:
		page = pageSearch
	default:
		page = pageCart
	}
	duration := math.NaN()
	if g.s.chance(0.9) {
		duration = roundMillis(g.s.logNormal(12, 1))
	}
	g.add(uint8(kind), -1, page, duration)
}

func (g *eventSource) cartAddPage() int {
	if g.s.chance(0.85) {
		return pageProduct
	}
	return pageCollection // a quick add from a collection grid
}

// viewDuration draws the seconds a product page stayed open: log-normal
// around half a minute, sometimes unknown, and now and then a tab left open
// for hours.
func (g *eventSource) viewDuration() float64 {
	switch u := g.s.Float64(); {
	case u < 0.04:
		return math.NaN()
	case u < 0.045:
		return roundMillis(1800 + g.s.ExpFloat64()*3600)
	default:
		return roundMillis(max(0.2, g.s.logNormal(28, 1.1)))
	}
}

// add appends an event at the session clock and moves the clock past it:
// past the time the page stayed open, plus a pause.
func (g *eventSource) add(kind uint8, prod int32, page int, duration float64) {
	ref := g.landing
	if len(g.session) > 0 {
		switch u := g.s.Float64(); {
		case u < 0.8:
			ref = refInternal
		case u < 0.98:
			// The landing referrer sticks to the events after it.
		default:
			ref = refNull
		}
	}
	g.session = append(g.session, event{
		at: g.clock, duration: duration, product: prod, kind: kind,
		page: uint8(page), device: g.device, referrer: ref,
		loggedOut: g.anonymous() || len(g.session) < g.loginAt,
	})
	var gap float64 // seconds
	switch {
	case !math.IsNaN(duration):
		gap = duration + g.s.ExpFloat64()*8
	case kind == evCartAdd:
		gap = 2 + g.s.ExpFloat64()*15
	default:
		gap = 3 + g.s.ExpFloat64()*30
	}
	g.clock += int64(gap * 1e6)
	if kind != evView {
		g.lastView = -1
	}
}

// roundMillis rounds seconds to the millisecond, as a pixel reports them.
func roundMillis(sec float64) float64 { return math.Round(sec*1000) / 1000 }

// clientID returns the client id of a slot's browser: shaped like the
// UUIDs Shopify gives browsers, its first groups the slot and the browser,
// so that ids ascend as they are written, its rest drawn from the seed.
func (p *plan) clientID(slot int, browser int64) string {
	h := splitmix64(uint64(p.cfg.Seed) ^ splitmix64(uint64(slot)<<20^uint64(browser)^domainIdentity<<56))
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", slot, browser&0xffff, h>>52, 0x8000|(h>>36)&0x3fff, h&0xffffffffffff)
}
