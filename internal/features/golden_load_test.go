package features

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/testenv/golden"
)

// readGoldenTable reads the golden CSV file name, failing the test when it
// is missing or malformed.
func readGoldenTable(t *testing.T, name string) *golden.Table {
	t.Helper()
	table, err := golden.ReadTable(name)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// goldenCell returns the field of row under column, failing the test when
// the file has no such column.
func goldenCell(t *testing.T, table *golden.Table, row []string, column string) string {
	t.Helper()
	i, ok := table.Column(column)
	if !ok {
		t.Fatalf("golden file %s has no column %q", table.Name, column)
	}
	return row[i]
}

// goldenPair is the key of an interaction_features row.
type goldenPair struct{ shop, customer, product string }

// String formats the pair for failure messages.
func (p goldenPair) String() string { return p.shop + " " + p.customer + " " + p.product }

// goldenInput is the golden input tables grouped by pair, as the compute job
// reads them: the used interactions (FEATURES.md 1.2) and the order lines of
// orders that have a customer and a created_at.
type goldenInput struct {
	events map[goldenPair][]Event
	lines  map[goldenPair][]OrderLine
}

// loadGoldenInput reads and joins the golden input tables.
func loadGoldenInput(t *testing.T) goldenInput {
	t.Helper()
	in := goldenInput{events: make(map[goldenPair][]Event), lines: make(map[goldenPair][]OrderLine)}

	ui := readGoldenTable(t, "user_interactions.csv")
	for _, r := range ui.Rows {
		p := goldenPair{goldenCell(t, ui, r, "shop_id"), goldenCell(t, ui, r, "customer_id"), goldenCell(t, ui, r, "product_id")}
		created := goldenCell(t, ui, r, "created_at")
		if p.shop == "" || p.customer == "" || p.product == "" || created == "" {
			continue
		}
		in.events[p] = append(in.events[p], Event{
			ID:           goldenCell(t, ui, r, "id"),
			CreatedAt:    parseGoldenTime(t, created),
			EventType:    goldenCell(t, ui, r, "event_type"),
			PageType:     goldenCell(t, ui, r, "page_type"),
			DeviceType:   goldenCell(t, ui, r, "device_type"),
			ReferrerType: goldenCell(t, ui, r, "referrer_type"),
			ViewDuration: nullAsNaN(parseGoldenNullFloat(t, goldenCell(t, ui, r, "view_duration"))),
		})
	}

	type orderKey struct{ shop, order string }
	type order struct {
		customer string
		created  time.Time
	}
	orders := make(map[orderKey][]order)
	od := readGoldenTable(t, "order_data.csv")
	for _, r := range od.Rows {
		customer, created := goldenCell(t, od, r, "customer_id"), goldenCell(t, od, r, "created_at")
		if customer == "" || created == "" {
			continue // a guest checkout belongs to no pair.
		}
		k := orderKey{goldenCell(t, od, r, "shop_id"), goldenCell(t, od, r, "order_id")}
		orders[k] = append(orders[k], order{customer, parseGoldenTime(t, created)})
	}

	type productKey struct{ shop, product string }
	prices := make(map[productKey]Null[float64])
	pd := readGoldenTable(t, "product_data.csv")
	for _, r := range pd.Rows {
		prices[productKey{goldenCell(t, pd, r, "shop_id"), goldenCell(t, pd, r, "product_id")}] = parseGoldenNullFloat(t, goldenCell(t, pd, r, "price"))
	}

	li := readGoldenTable(t, "line_item_data.csv")
	for _, r := range li.Rows {
		shop, product := goldenCell(t, li, r, "shop_id"), goldenCell(t, li, r, "product_id")
		var quantity Null[int64]
		if q := goldenCell(t, li, r, "quantity"); q != "" {
			n, err := strconv.ParseInt(q, 10, 64)
			if err != nil {
				t.Fatalf("line_item_data quantity %q: %v", q, err)
			}
			quantity = Some(n)
		}
		for _, o := range orders[orderKey{shop, goldenCell(t, li, r, "order_id")}] {
			p := goldenPair{shop, o.customer, product}
			in.lines[p] = append(in.lines[p], OrderLine{
				OrderID:        goldenCell(t, li, r, "order_id"),
				OrderCreatedAt: o.created,
				Quantity:       quantity,
				Price:          parseGoldenNullFloat(t, goldenCell(t, li, r, "price")),
				ProductPrice:   prices[productKey{shop, product}],
			})
		}
	}
	return in
}

// pairs returns every pair with an interaction or an order line, whether or
// not it exists at a given as_of.
func (in goldenInput) pairs() map[goldenPair]bool {
	all := make(map[goldenPair]bool)
	for p := range in.events {
		all[p] = true
	}
	for p := range in.lines {
		all[p] = true
	}
	return all
}

// parseGoldenTime parses a golden input timestamp, failing the test when it
// is malformed.
func parseGoldenTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := golden.ParseTime(s)
	if err != nil {
		t.Fatalf("golden timestamp %q: %v", s, err)
	}
	return ts
}

// parseGoldenNullFloat parses a golden float, "" being NULL; strconv reads
// the NaN, Infinity and -Infinity that Postgres writes.
func parseGoldenNullFloat(t *testing.T, s string) Null[float64] {
	t.Helper()
	if s == "" {
		return Null[float64]{}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("golden float %q: %v", s, err)
	}
	return Some(f)
}

// nullAsNaN returns f's value, or NaN for NULL as Event.ViewDuration expects.
func nullAsNaN(f Null[float64]) float64 {
	if !f.Valid {
		return math.NaN()
	}
	return f.V
}
