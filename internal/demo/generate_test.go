package demo

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/store"
)

// generated is one table's rows as Seed would send them, for tests that
// need no database.
type generated struct {
	columns []string
	rows    [][]any
}

func (g generated) col(name string) int {
	i := slices.Index(g.columns, name)
	if i < 0 {
		panic("no column " + name)
	}
	return i
}

// generate returns every table of cfg's shop, keyed by table name.
func generate(t testing.TB, cfg Config) map[string]generated {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p := newPlan(cfg)
	out := map[string]generated{}
	for _, tb := range tables {
		g := generated{columns: tb.columns}
		src := tb.source(p)
		for {
			row := make([]any, len(tb.columns))
			if !src.next(row) {
				break
			}
			g.rows = append(g.rows, row)
		}
		out[tb.name] = g
	}
	return out
}

// render prints a value the way it would be stored.
func render(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case store.Cents:
		return fmt.Sprint(int64(v)) + "e-2"
	case time.Time:
		return v.Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(v)
	}
}

// digest hashes a table's rows in the order they were generated.
func digest(g generated) string {
	h := sha256.New()
	for _, row := range g.rows {
		for _, v := range row {
			io.WriteString(h, render(v))
			io.WriteString(h, "\x1f")
		}
		io.WriteString(h, "\n")
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig().WithEvents(20_000)
	a, b := generate(t, cfg), generate(t, cfg)
	other := cfg
	other.Seed = 2
	c := generate(t, other)
	for _, tb := range tables {
		if digest(a[tb.name]) != digest(b[tb.name]) {
			t.Errorf("%s: two generations of the same config differ", tb.name)
		}
		if digest(a[tb.name]) == digest(c[tb.name]) {
			t.Errorf("%s: seeds 1 and 2 generate the same rows", tb.name)
		}
	}
}

func TestGenerateCounts(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		DefaultConfig(),
		DefaultConfig().WithEvents(5_000),
		{ShopID: "tiny", Seed: 9, Products: 1, Customers: 1, Orders: 3, Events: 4, End: DefaultConfig().End, Days: 1},
		{ShopID: "no-events", Seed: 3, Products: 5, Customers: 7, Orders: 20, Events: 0, End: DefaultConfig().End, Days: 30},
		{ShopID: "few-events", Seed: 4, Products: 50, Customers: 40, Orders: 200, Events: 300, End: DefaultConfig().End, Days: 90},
	} {
		t.Run(cfg.ShopID+fmt.Sprint(cfg.Events), func(t *testing.T) {
			g := generate(t, cfg)
			for name, want := range map[string]int{
				"product_data":      cfg.Products,
				"customer_data":     cfg.Customers,
				"order_data":        cfg.Orders,
				"user_interactions": cfg.Events,
			} {
				if got := len(g[name].rows); got != want {
					t.Errorf("%s: %d rows, want %d", name, got, want)
				}
			}
			lines := len(g["line_item_data"].rows)
			if lines < cfg.Orders || lines > 4*cfg.Orders {
				t.Errorf("%d line items for %d orders, want 1 to 4 per order", lines, cfg.Orders)
			}
			for name, tb := range g {
				ids := map[any]bool{}
				for _, row := range tb.rows {
					id := row[0].(string)
					if ids[id] {
						t.Fatalf("%s: duplicate id %s", name, id)
					}
					if !strings.HasPrefix(id, cfg.ShopID+"/") || len(id) > 255 {
						t.Fatalf("%s: id %q is not prefixed with the shop or is too long", name, id)
					}
					ids[id] = true
				}
			}
		})
	}
}

// TestGeneratedShopLooksReal checks the properties the demo promises to
// people reading it: funnel ratios, shares, skew, seasonality, sessions and
// checkouts that match orders.
func TestGeneratedShopLooksReal(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	g := generate(t, cfg)
	start, end := cfg.End.AddDate(0, 0, -cfg.Days), cfg.End

	ev := g["user_interactions"]
	cCust, cProd, cKind, cDev, cRef, cPage, cDur, cAt, cClient := ev.col("customer_id"), ev.col("product_id"),
		ev.col("event_type"), ev.col("device_type"), ev.col("referrer_type"), ev.col("page_type"),
		ev.col("view_duration"), ev.col("created_at"), ev.col("client_id")
	// Every row names its browser; a browser belongs to one customer,
	// named by at least one of its rows if it ever logs in or checks out.
	linked := map[any]any{}
	for _, row := range ev.rows {
		client := row[cClient]
		if client == nil {
			t.Fatalf("row %v has no client id", row[0])
		}
		if c := row[cCust]; c != nil {
			if other, ok := linked[client]; ok && other != c {
				t.Fatalf("client %v names customers %v and %v", client, other, c)
			}
			linked[client] = c
		}
	}
	count := map[string]map[string]int{}
	inc := func(what string, v any) {
		if count[what] == nil {
			count[what] = map[string]int{}
		}
		count[what][render(v)]++
	}
	var views, viewDurNull, viewDurLong, peakEvents, restEvents int
	productViews := map[any]int{}
	byCustomer := map[any][]time.Time{}
	checkouts := map[string]int{}
	for _, row := range ev.rows {
		at := row[cAt].(time.Time)
		if at.Before(start) || at.After(end) || at.Location() != time.UTC {
			t.Fatalf("event at %v outside [%v, %v] or not UTC", at, start, end)
		}
		if m := at.Month(); m == time.November || m == time.December {
			peakEvents++
		} else {
			restEvents++
		}
		inc("kind", row[cKind])
		inc("device", row[cDev])
		inc("referrer", row[cRef])
		customer := linked[row[cClient]] // the customer identity resolution finds
		inc("never identified", customer == nil)
		inc("logged out", row[cCust] == nil && customer != nil)
		inc("page-level", row[cProd] == nil)
		if row[cKind] == "product_viewed" {
			views++
			inc("page", row[cPage])
			productViews[row[cProd]]++
			switch d, ok := row[cDur].(float64); {
			case !ok:
				viewDurNull++
			case d > 1800:
				viewDurLong++
			}
		}
		if customer != nil {
			byCustomer[customer] = append(byCustomer[customer], at)
		}
		if row[cKind] == "checkout_completed" && row[cCust] != nil {
			checkouts[render(row[cCust])+"|"+render(row[cProd])+"|"+render(at)]++
		}
	}
	t.Logf("event types %v", count["kind"])
	t.Logf("rows never identified %d, logged out but resolvable %d, of %d", count["never identified"]["true"], count["logged out"]["true"], len(ev.rows))
	t.Logf("devices %v; referrers %v; view pages %v", count["device"], count["referrer"], count["page"])

	share := func(what, value string, total int) float64 { return float64(count[what][value]) / float64(total) }
	within := func(name string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s = %.4f, want within [%.4f, %.4f]", name, got, lo, hi)
		}
	}
	// Funnel: about 100 views : 8 adds : 2 removals : 3 checkouts (the
	// checkouts are bounded by the configured orders).
	within("cart adds per view", share("kind", "product_added_to_cart", views), 0.06, 0.1)
	within("cart removes per view", share("kind", "product_removed_from_cart", views), 0.01, 0.03)
	within("checkouts per view", share("kind", "checkout_completed", views), 0.01, 0.04)
	n := len(ev.rows)
	within("mobile share", share("device", "mobile", n), 0.5, 0.7)
	within("desktop share", share("device", "desktop", n), 0.24, 0.4)
	within("tablet share", share("device", "tablet", n), 0.04, 0.12)
	within("never identified share", share("never identified", "true", n), 0.03, 0.12)
	within("logged out share", share("logged out", "true", n), 0.15, 0.35)
	within("page-level share", share("page-level", "true", n), 0.03, 0.12)
	within("NULL view duration share", float64(viewDurNull)/float64(views), 0.02, 0.07)
	within("view duration > 1800 share", float64(viewDurLong)/float64(views), 0.001, 0.01)
	for _, ref := range []string{"direct", "internal", "search_engine", "social", "email", "paid", "referral"} {
		within("referrer "+ref, share("referrer", ref, n), 0.01, 0.8)
	}
	for _, page := range []string{"product", "search", "collection", "category"} {
		within("view page "+page, share("page", page, views), 0.05, 0.6)
	}

	// Popularity: the best seller draws several times its even share.
	top := 0
	for _, v := range productViews {
		top = max(top, v)
	}
	within("top product's share of views", float64(top)/float64(views), 0.03, 0.2)

	// Seasonality: November and December busier per day than the rest.
	perDayPeak := float64(peakEvents) / 61
	perDayRest := float64(restEvents) / float64(cfg.Days-61)
	within("Nov-Dec traffic over the rest", perDayPeak/perDayRest, 1.3, 3)

	// Sessions: most gaps between a customer's events are minutes, but the
	// gaps between sessions are days.
	var short, long, days int
	for _, ts := range byCustomer {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(ts); i++ {
			switch d := ts[i].Sub(ts[i-1]); {
			case d <= 30*time.Minute:
				short++
			case d >= 24*time.Hour:
				days++
				long++
			default:
				long++
			}
		}
	}
	within("share of gaps within a session", float64(short)/float64(short+long), 0.7, 0.9)
	within("share of gaps between sessions of a day or more", float64(days)/float64(long), 0.5, 1)

	// Customers differ: the busiest has many times the median's events.
	perCustomer := make([]int, 0, len(byCustomer))
	for _, ts := range byCustomer {
		perCustomer = append(perCustomer, len(ts))
	}
	slices.Sort(perCustomer)
	if busiest, median := perCustomer[len(perCustomer)-1], perCustomer[len(perCustomer)/2]; busiest < 10*median {
		t.Errorf("busiest customer has %d events, median %d: activity is not skewed", busiest, median)
	}

	// Orders: every customer's checkout event is a line of an order of the
	// same customer at the same instant; guests and NULL prices occur.
	orders, lines, products := g["order_data"], g["line_item_data"], g["product_data"]
	orderOf := map[any][]any{}
	var guests int
	for _, row := range orders.rows {
		orderOf[row[orders.col("order_id")]] = row
		if row[orders.col("customer_id")] == nil {
			guests++
		}
		at := row[orders.col("created_at")].(time.Time)
		if at.Before(start) || at.After(end) {
			t.Fatalf("order at %v outside the history", at)
		}
	}
	within("guest order share", float64(guests)/float64(len(orders.rows)), 0.01, 0.12)
	var nullQty, nullPrice int
	quantities := map[int32]int{}
	for _, row := range lines.rows {
		o := orderOf[row[lines.col("order_id")]]
		if o == nil {
			t.Fatalf("line %v has no order", row[0])
		}
		if o[orders.col("customer_id")] != nil {
			key := render(o[orders.col("customer_id")]) + "|" + render(row[lines.col("product_id")]) + "|" +
				render(o[orders.col("created_at")])
			if checkouts[key] == 0 {
				t.Errorf("line %v has no checkout event %s", row[0], key)
			}
			delete(checkouts, key)
		}
		switch q := row[lines.col("quantity")].(type) {
		case nil:
			nullQty++
		case int32:
			quantities[q]++
		}
		if row[lines.col("price")] == nil {
			nullPrice++
		}
	}
	if len(checkouts) != 0 {
		t.Errorf("%d checkout events match no order line", len(checkouts))
	}
	if nullQty == 0 || nullPrice == 0 {
		t.Errorf("want some NULL quantities and prices, got %d and %d", nullQty, nullPrice)
	}
	within("quantity 1-3 share", float64(quantities[1]+quantities[2]+quantities[3])/float64(len(lines.rows)), 0.9, 1)

	for _, row := range products.rows {
		price := row[products.col("price")].(store.Cents)
		if c := int64(price); c < 500 || c > 30000 {
			t.Errorf("product %v price %v out of 5.00..300.00", row[0], render(price))
		}
	}
	for _, row := range g["customer_data"].rows {
		email, _ := row[3].(string)
		if !strings.Contains(email, "@example.") || row[4] == nil || row[5] == nil {
			t.Errorf("customer %v lacks an email or a name: %v", row[0], row)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := DefaultConfig()
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // a substring of the error, "" for none
	}{
		{"default", func(*Config) {}, ""},
		{"no events", func(c *Config) { c.Events, c.Orders = 0, 0 }, ""},
		{"empty shop", func(c *Config) { c.ShopID = "" }, "shop id must not be empty"},
		{"padded shop", func(c *Config) { c.ShopID = " demo" }, "shop id"},
		{"long shop", func(c *Config) { c.ShopID = strings.Repeat("s", 201) }, "shop id must be at most"},
		{"no products", func(c *Config) { c.Products = 0 }, "products must be >= 1"},
		{"no customers", func(c *Config) { c.Customers = 0 }, "customers must be >= 1"},
		{"negative orders", func(c *Config) { c.Orders = -1 }, "orders must be >= 0"},
		{"negative events", func(c *Config) { c.Events = -5 }, "events must be >= 0"},
		{"no days", func(c *Config) { c.Days = 0 }, "days must be >= 1"},
		{"too many days", func(c *Config) { c.Days = 10_000 }, "days must be >= 1 and <= 3660"},
		{"no end", func(c *Config) { c.End = time.Time{} }, "end must be set"},
		{"two at once", func(c *Config) { c.Products, c.Days = -1, -1 }, "products must be >= 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			case tc.want != "" && !strings.HasPrefix(err.Error(), "demo: "):
				t.Fatalf("Validate() = %q, want it to start with \"demo: \"", err)
			}
		})
	}
}

func TestWithEvents(t *testing.T) {
	t.Parallel()
	c := DefaultConfig().WithEvents(2_000_000)
	if c.Events != 2_000_000 || c.Products != 14_000 || c.Customers != 15_240 || c.Orders != 15_800 {
		t.Fatalf("WithEvents(2M) = %+v", c)
	}
	if c := DefaultConfig().WithEvents(10); c.Products < 1 || c.Customers < 1 || c.Validate() != nil {
		t.Fatalf("WithEvents(10) = %+v, want a valid config", c)
	}
	if math.Abs(float64(c.Customers)/float64(c.Events)-381.0/50_000) > 1e-6 {
		t.Fatalf("WithEvents changed the customer density: %+v", c)
	}
}
