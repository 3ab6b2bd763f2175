package demo

import (
	"math"
	"strconv"
	"time"

	"github.com/featurestore/featurestore/internal/store"
)

// productRow is one product_data row before boxing.
type productRow struct {
	gid     string
	title   string
	vendor  string
	kind    string
	price   int64 // cents
	created int64
}

// productRow fills row for product i from the product's own stream, so the
// plan (which keeps only prices) and the copy pass (which needs the rest)
// agree without storing titles.
func (p *plan) productRow(s *stream, i int, row *productRow) {
	s.reset(p.cfg.Seed, domainProduct, uint64(i))
	t := productTypes[productTypeMix.pick(s)]
	row.gid = gid("Product", productGIDBase, int64(i))
	row.kind = t.name
	row.price = retailPrice(s, t.median)
	row.vendor = vendors[vendorMix.pick(s)]
	row.title = adjectives[s.IntN(len(adjectives))] + " " + t.nouns[s.IntN(len(t.nouns))] +
		" - " + colours[s.IntN(len(colours))]
	// The catalogue predates the history, so no event precedes its product.
	row.created = p.start - microsPerDay - int64(s.Float64()*729*float64(microsPerDay))
}

// retailPrice draws a price in cents between 5.00 and 300.00 around median,
// ending the way shop prices do: mostly .99 or .95, sometimes whole.
func retailPrice(s *stream, median float64) int64 {
	dollars := math.Floor(s.logNormal(median, 0.35) / 100)
	var cents int64
	switch u := s.Float64(); {
	case u < 0.45:
		cents = int64(dollars)*100 + 99
	case u < 0.6:
		cents = int64(dollars)*100 + 95
	case u < 0.85:
		cents = int64(dollars) * 100
	default:
		cents = int64(dollars)*100 + int64(s.IntN(100))
	}
	return min(max(cents, 500), 30000)
}

// money returns cents as the store writes them into numeric(14, 2).
func money(cents int64) store.Cents { return store.Cents(cents) }

// micros returns a unix-microsecond instant as a UTC time.
func micros(t int64) time.Time { return time.UnixMicro(t).UTC() }

// productSource yields product_data rows.
type productSource struct {
	p   *plan
	s   *stream
	i   int
	row productRow
}

func (g *productSource) next(out []any) bool {
	if g.i >= len(g.p.products) {
		return false
	}
	g.p.productRow(g.s, g.i, &g.row)
	g.i++
	id := g.row.gid
	out[0] = g.p.cfg.ShopID + "/" + id
	out[1] = g.p.shop
	out[2] = id
	out[3] = g.row.title
	out[4] = money(g.row.price)
	out[5] = g.row.vendor
	out[6] = g.row.kind
	out[7] = micros(g.row.created)
	return true
}

// customerSource yields customer_data rows.
type customerSource struct {
	p  *plan
	s  *stream
	i  int
	pr profile
}

func (g *customerSource) next(out []any) bool {
	if g.i >= len(g.p.customers) {
		return false
	}
	c := g.i
	g.i++
	g.p.profile(g.s, c, &g.pr)
	g.s.reset(g.p.cfg.Seed, domainNames, uint64(c))
	first := firstNames[g.s.IntN(len(firstNames))]
	last := lastNames[g.s.IntN(len(lastNames))]
	domain := emailDomains[g.s.IntN(len(emailDomains))]
	// The customer number keeps addresses unique within the shop, as
	// Shopify requires, however often a name repeats.
	n := strconv.Itoa(c + 1)
	var local string
	switch g.s.IntN(3) {
	case 0:
		local = first.slug + "." + last.slug + n
	case 1:
		local = first.slug + last.slug + n
	default:
		local = first.slug[:1] + "." + last.slug + n
	}
	id := g.p.customers[c].(string)
	out[0] = g.p.cfg.ShopID + "/" + id
	out[1] = g.p.shop
	out[2] = id
	out[3] = local + "@" + domain
	out[4] = first.name
	out[5] = last.name
	out[6] = micros(g.pr.created)
	return true
}
