package demo

import (
	"math"
	"strconv"
	"time"
)

// The gid numbers start high and have a fixed width, like Shopify's, so that
// ids compare byte by byte in the order they were generated.
const (
	productGIDBase  = 7_482_000_000_000
	customerGIDBase = 6_213_000_000_000
	orderGIDBase    = 5_730_000_000_000
	lineItemGIDBase = 4_870_000_000_000
)

// Shares of the shop's traffic and orders that belong to no customer.
const (
	anonymousEventShare = 0.06
	guestOrderShare     = 0.05
	// loggedOutShare of the customers browse without logging in: their
	// rows carry only their browser's client id until they log in (in
	// loginRate of their sessions) or check out, as a storefront pixel
	// sees it. Identity resolution gives the rows back to them.
	loggedOutShare = 0.35
	loginRate      = 0.3
	// funnelEventsPerLine is what a tracked order line costs in events: a
	// view, an add to cart and a checkout_completed.
	funnelEventsPerLine = 3
)

// product is what the event and order passes need of a product.
type product struct {
	gid   any // boxed "gid://shopify/Product/<n>"
	price int64
}

// slot is one customer (or, last, the anonymous visitors and guest
// checkouts): the shares of orders and events it was given and where its
// order and line numbers start.
type slot struct {
	weight    float64
	orders    int64
	events    int64
	orderBase int64
	lineBase  int64
}

// plan is everything decided before the first row is written: the catalogue's
// prices and popularity and each customer's share of orders and events. It
// is O(products + customers + hours of history) in memory.
type plan struct {
	cfg        Config
	shop       any   // boxed shop id
	start, end int64 // the history, in unix microseconds
	timeline   *timeline
	products   []product
	popular    alias
	customers  []any // boxed customer gids
	slots      []slot
}

// anonymous is the index of the slot of anonymous visitors and guests.
func (p *plan) anonymous() int { return len(p.customers) }

func newPlan(cfg Config) *plan {
	end := cfg.End.UTC().Truncate(time.Microsecond).UnixMicro()
	start := end - int64(cfg.Days)*microsPerDay
	p := &plan{
		cfg:       cfg,
		shop:      cfg.ShopID,
		start:     start,
		end:       end,
		timeline:  newTimeline(start, end),
		products:  make([]product, cfg.Products),
		customers: make([]any, cfg.Customers),
		slots:     make([]slot, cfg.Customers+1),
	}
	s := newStream()
	p.planProducts(s)
	p.planSlots(s)
	return p
}

// planProducts prices the catalogue and ranks it by popularity. Ranks are a
// shuffle of the catalogue, so the best seller is not always product 1.
func (p *plan) planProducts(s *stream) {
	var row productRow
	for i := range p.products {
		p.productRow(s, i, &row)
		p.products[i] = product{gid: row.gid, price: row.price}
	}
	s.reset(p.cfg.Seed, domainSetup, 0)
	rank := s.Perm(len(p.products))
	weights := make([]float64, len(p.products))
	for i, r := range rank {
		// Zipf-like with exponent 1; the offset keeps the top product near
		// a tenth of the views of a small shop rather than a third.
		weights[i] = 1 / float64(r+2)
	}
	p.popular = newAlias(weights)
}

// planSlots gives each customer an activity weight, then shares the orders
// and the events out by weight. Events first cover the funnels of the
// customer's orders, so that every order can be matched by its checkout
// events whenever the configured events allow it.
func (p *plan) planSlots(s *stream) {
	var pr profile
	n := len(p.slots)
	weights := make([]float64, n)
	sum := 0.0
	for c := range p.customers {
		p.customers[c] = gid("Customer", customerGIDBase, int64(c))
		p.profile(s, c, &pr)
		// A customer who signed up late has had less time to browse.
		window := float64(p.end-p.start) + float64(microsPerDay)
		active := float64(p.end-pr.active) + float64(microsPerDay)
		p.slots[c].weight = pr.activity * active / window
		sum += p.slots[c].weight
	}
	p.slots[p.anonymous()].weight = sum * anonymousEventShare / (1 - anonymousEventShare)

	// Orders follow activity less steeply than browsing does: heavy
	// browsers buy more, but not in proportion.
	for c := range p.customers {
		weights[c] = math.Pow(p.slots[c].weight, 0.75)
	}
	sumOrders := 0.0
	for _, w := range weights[:len(p.customers)] {
		sumOrders += w
	}
	weights[p.anonymous()] = sumOrders * guestOrderShare / (1 - guestOrderShare)
	shares := make([]int64, n)
	s.reset(p.cfg.Seed, domainSetup, 1)
	apportion(weights, int64(p.cfg.Orders), s.Float64(), shares)

	// Count each slot's lines: they number the line items and set the
	// events that the slot's order funnels need.
	need := make([]int64, n)
	var orders []order
	var lines []line
	var orderBase, lineBase, needed int64
	for i := range p.slots {
		sl := &p.slots[i]
		sl.orders = shares[i]
		sl.orderBase, sl.lineBase = orderBase, lineBase
		p.profile(s, i, &pr)
		orders, lines = p.orders(s, i, &pr, orders[:0], lines[:0])
		orderBase += sl.orders
		lineBase += int64(len(lines))
		need[i] = funnelEventsPerLine * int64(len(lines))
		needed += need[i]
	}

	for i := range p.slots {
		weights[i] = p.slots[i].weight
	}
	s.reset(p.cfg.Seed, domainSetup, 2)
	u := s.Float64()
	total := int64(p.cfg.Events)
	if total < needed {
		// Too few events for every funnel: share them by activity alone
		// and let the events pass track the orders that fit.
		apportion(weights, total, u, shares)
		for i := range p.slots {
			p.slots[i].events = shares[i]
		}
		return
	}
	apportion(weights, total-needed, u, shares)
	for i := range p.slots {
		p.slots[i].events = need[i] + shares[i]
	}
}

// gid returns the Shopify gid of the index-th object of a kind.
func gid(kind string, base, index int64) string {
	return "gid://shopify/" + kind + "/" + strconv.FormatInt(base+index+1, 10)
}

// profile is what the order and event passes need of a customer; it is
// regenerated from the customer's stream wherever it is needed instead of
// being stored.
type profile struct {
	created  int64 // customer_data.created_at
	active   int64 // the first instant the customer browses or buys
	activity float64
	device   int
	favs     []int32 // the products the customer keeps coming back to
}

// profile fills pr for slot i. The anonymous slot has no favourites and no
// device of its own: each of its sessions is a different visitor.
func (p *plan) profile(s *stream, i int, pr *profile) {
	pr.favs = pr.favs[:0]
	if i == p.anonymous() {
		pr.created, pr.active, pr.activity, pr.device = p.start, p.start, 0, deviceNull
		return
	}
	s.reset(p.cfg.Seed, domainProfile, uint64(i))
	// Activity is log-normal: most customers visit a few times a year and a
	// few visit every week.
	pr.activity = s.logNormal(1, 1.3)
	if s.chance(0.8) {
		// An account from before the history, up to three years older.
		pr.created = p.start - microsPerDay - int64(s.Float64()*1094*float64(microsPerDay))
	} else {
		pr.created = p.timeline.sample(s, p.start, p.end)
	}
	pr.active = max(pr.created, p.start)
	pr.device = deviceMix.pick(s)
	for range 2 + s.IntN(7) {
		pr.favs = append(pr.favs, p.popular.pick(s))
	}
}
