package demo

// order is one generated order; its lines are lines[first:last] of the
// slot's line buffer.
type order struct {
	at          int64
	first, last int
	// tracked says whether the order's checkout funnel appears among the
	// events; the events pass decides it from the slot's event budget.
	tracked bool
}

// line is one order line. A zero qty is a NULL quantity and a negative price
// a NULL price, both of which real shop syncs produce.
type line struct {
	product int32
	qty     int32
	price   int64
}

var (
	lineCountMix = newMix(40, 30, 18, 12) // 1 to 4 lines
	quantities   = []int32{0, 1, 2, 3, 4, 5}
	quantityMix  = newMix(2, 72, 18, 6, 1.5, 0.5)
)

// pickProduct draws a product, one of favs with probability fav, else by
// popularity.
func (p *plan) pickProduct(s *stream, favs []int32, fav float64) int32 {
	if len(favs) > 0 && s.chance(fav) {
		return favs[s.IntN(len(favs))]
	}
	return p.popular.pick(s)
}

// orders appends slot i's orders and lines to os and ls and returns them. It
// is a pure function of the seed and i, called by the plan (to count lines),
// by the order and line item passes, and by the events pass (to match
// checkouts to orders).
func (p *plan) orders(s *stream, i int, pr *profile, os []order, ls []line) ([]order, []line) {
	s.reset(p.cfg.Seed, domainOrders, uint64(i))
	for range p.slots[i].orders {
		o := order{at: p.timeline.sample(s, pr.active, p.end), first: len(ls)}
		for range 1 + lineCountMix.pick(s) {
			prod, ok := p.newLineProduct(s, pr.favs, ls[o.first:])
			if !ok {
				continue
			}
			l := line{product: prod, qty: quantities[quantityMix.pick(s)], price: p.products[prod].price}
			switch u := s.Float64(); {
			case u < 0.03:
				l.price = -1
			case u < 0.08:
				// A sale: 10 to 30 percent off, to the cent.
				l.price = max(1, l.price*int64(70+s.IntN(21))/100)
			}
			ls = append(ls, l)
		}
		o.last = len(ls)
		os = append(os, o)
	}
	return os, ls
}

// newLineProduct draws a product not already in the order; after a few
// tries it gives up, and the order has one line fewer, since a shopper adds
// a product once and raises its quantity.
func (p *plan) newLineProduct(s *stream, favs []int32, taken []line) (int32, bool) {
	for range 4 {
		prod := p.pickProduct(s, favs, 0.55)
		dup := false
		for _, l := range taken {
			dup = dup || l.product == prod
		}
		if !dup {
			return prod, true
		}
	}
	return 0, false
}

// orderCursor walks every slot's orders in order, regenerating each slot's
// orders when it reaches it, so the order and line item passes hold one
// customer's orders at a time.
type orderCursor struct {
	p      *plan
	s      *stream
	pr     profile
	slot   int
	orders []order
	lines  []line
	next   int
}

func newOrderCursor(p *plan) *orderCursor {
	return &orderCursor{p: p, s: newStream(), slot: -1}
}

// advance returns the next order and its global number, or false after the
// last.
func (c *orderCursor) advance() (*order, int64, bool) {
	for c.next >= len(c.orders) {
		c.slot++
		if c.slot >= len(c.p.slots) {
			return nil, 0, false
		}
		c.p.profile(c.s, c.slot, &c.pr)
		c.orders, c.lines = c.p.orders(c.s, c.slot, &c.pr, c.orders[:0], c.lines[:0])
		c.next = 0
	}
	o := &c.orders[c.next]
	c.next++
	return o, c.p.slots[c.slot].orderBase + int64(c.next-1), true
}

// customer returns the boxed customer gid of the current slot, nil for a
// guest.
func (c *orderCursor) customer() any {
	if c.slot == c.p.anonymous() {
		return nil
	}
	return c.p.customers[c.slot]
}

// lineTotal is what a line adds to its order: a NULL quantity counts one
// and a NULL price is the product's, as FEATURES.md reads them.
func (p *plan) lineTotal(l line) int64 {
	qty, price := int64(max(l.qty, 1)), l.price
	if price < 0 {
		price = p.products[l.product].price
	}
	return qty * price
}

// freeShippingFrom is the subtotal (in cents) from which shipping is free.
const (
	freeShippingFrom = 7500
	shippingFee      = 695
)

// orderSource yields order_data rows.
type orderSource struct{ c *orderCursor }

func (g *orderSource) next(out []any) bool {
	o, n, ok := g.c.advance()
	if !ok {
		return false
	}
	total := int64(0)
	for _, l := range g.c.lines[o.first:o.last] {
		total += g.c.p.lineTotal(l)
	}
	if total < freeShippingFrom {
		total += shippingFee
	}
	id := gid("Order", orderGIDBase, n)
	out[0] = g.c.p.cfg.ShopID + "/" + id
	out[1] = g.c.p.shop
	out[2] = id
	out[3] = g.c.customer()
	out[4] = money(total)
	out[5] = micros(o.at)
	return true
}

// lineItemSource yields line_item_data rows.
type lineItemSource struct {
	c       *orderCursor
	order   *order
	orderID string
	pos     int // index in c.lines of the next line to emit
}

func (g *lineItemSource) next(out []any) bool {
	for g.order == nil || g.pos >= g.order.last {
		o, n, ok := g.c.advance()
		if !ok {
			return false
		}
		g.order, g.orderID, g.pos = o, gid("Order", orderGIDBase, n), o.first
	}
	l := g.c.lines[g.pos]
	number := g.c.p.slots[g.c.slot].lineBase + int64(g.pos)
	g.pos++
	out[0] = g.c.p.cfg.ShopID + "/" + gid("LineItem", lineItemGIDBase, number)
	out[1] = g.c.p.shop
	out[2] = g.orderID
	out[3] = g.c.p.products[l.product].gid
	if l.qty > 0 {
		out[4] = l.qty
	} else {
		out[4] = nil
	}
	if l.price >= 0 {
		out[5] = money(l.price)
	} else {
		out[5] = nil
	}
	return true
}
