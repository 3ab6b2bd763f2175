package features

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// goldenDir is the golden data set of FEATURES.md, relative to this package.
const goldenDir = "../../testdata/golden"

// goldenTimeLayout is how the golden CSV files write timestamps, all UTC.
const goldenTimeLayout = "2006-01-02 15:04:05.999999"

// goldenTable is one CSV file of the golden set: a header and its rows, an
// empty field standing for NULL.
type goldenTable struct {
	name   string
	column map[string]int
	header []string
	rows   [][]string
}

// readGoldenTable reads the golden CSV file name, failing the test when it
// is missing or malformed.
func readGoldenTable(t *testing.T, name string) *goldenTable {
	t.Helper()
	f, err := os.Open(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatalf("open golden file: %v", err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read golden file %s: %v", name, err)
	}
	if len(records) == 0 {
		t.Fatalf("golden file %s has no header", name)
	}
	g := &goldenTable{name: name, column: make(map[string]int), header: records[0], rows: records[1:]}
	for i, c := range g.header {
		g.column[c] = i
	}
	return g
}

// get returns the field of row under column, failing the test when the file
// has no such column.
func (g *goldenTable) get(t *testing.T, row []string, column string) string {
	t.Helper()
	i, ok := g.column[column]
	if !ok {
		t.Fatalf("golden file %s has no column %q", g.name, column)
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
	for _, r := range ui.rows {
		p := goldenPair{ui.get(t, r, "shop_id"), ui.get(t, r, "customer_id"), ui.get(t, r, "product_id")}
		created := ui.get(t, r, "created_at")
		if p.shop == "" || p.customer == "" || p.product == "" || created == "" {
			continue
		}
		in.events[p] = append(in.events[p], Event{
			ID:           ui.get(t, r, "id"),
			CreatedAt:    parseGoldenTime(t, created),
			EventType:    ui.get(t, r, "event_type"),
			PageType:     ui.get(t, r, "page_type"),
			DeviceType:   ui.get(t, r, "device_type"),
			ReferrerType: ui.get(t, r, "referrer_type"),
			ViewDuration: nullAsNaN(parseGoldenNullFloat(t, ui.get(t, r, "view_duration"))),
		})
	}

	type orderKey struct{ shop, order string }
	type order struct {
		customer string
		created  time.Time
	}
	orders := make(map[orderKey][]order)
	od := readGoldenTable(t, "order_data.csv")
	for _, r := range od.rows {
		customer, created := od.get(t, r, "customer_id"), od.get(t, r, "created_at")
		if customer == "" || created == "" {
			continue // a guest checkout belongs to no pair.
		}
		k := orderKey{od.get(t, r, "shop_id"), od.get(t, r, "order_id")}
		orders[k] = append(orders[k], order{customer, parseGoldenTime(t, created)})
	}

	type productKey struct{ shop, product string }
	prices := make(map[productKey]Null[float64])
	pd := readGoldenTable(t, "product_data.csv")
	for _, r := range pd.rows {
		prices[productKey{pd.get(t, r, "shop_id"), pd.get(t, r, "product_id")}] = parseGoldenNullFloat(t, pd.get(t, r, "price"))
	}

	li := readGoldenTable(t, "line_item_data.csv")
	for _, r := range li.rows {
		shop, product := li.get(t, r, "shop_id"), li.get(t, r, "product_id")
		var quantity Null[int64]
		if q := li.get(t, r, "quantity"); q != "" {
			n, err := strconv.ParseInt(q, 10, 64)
			if err != nil {
				t.Fatalf("line_item_data quantity %q: %v", q, err)
			}
			quantity = Some(n)
		}
		for _, o := range orders[orderKey{shop, li.get(t, r, "order_id")}] {
			p := goldenPair{shop, o.customer, product}
			in.lines[p] = append(in.lines[p], OrderLine{
				OrderID:        li.get(t, r, "order_id"),
				OrderCreatedAt: o.created,
				Quantity:       quantity,
				Price:          parseGoldenNullFloat(t, li.get(t, r, "price")),
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

// parseUTC parses a timestamp as the golden files write them, in UTC.
func parseUTC(s string) (time.Time, error) {
	return time.ParseInLocation(goldenTimeLayout, s, time.UTC)
}

// parseGoldenTime parses a golden input timestamp, failing the test when it
// is malformed.
func parseGoldenTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := parseUTC(s)
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

// matchGolden compares a computed column value with the golden text want,
// as values: integers and timestamps exactly, floats to 1e-9 relative or
// 1e-12 absolute. It returns a reason when they differ, "" when they match.
func matchGolden(got any, want string) string {
	if want == "" || got == nil {
		if want == "" && got == nil {
			return ""
		}
		return "NULL on one side only"
	}
	switch g := got.(type) {
	case int64:
		w, err := strconv.ParseFloat(want, 64) // "2.0" is the integer 2.
		if err != nil || w != float64(g) {
			return "integers differ"
		}
	case float64:
		w, err := strconv.ParseFloat(want, 64)
		if err != nil || !closeFloats(g, w, 1e-9, 1e-12) {
			return "floats differ"
		}
	case time.Time:
		w, err := parseUTC(want)
		if err != nil || !w.Equal(g) {
			return "timestamps differ"
		}
	case string:
		if g != want {
			return "texts differ"
		}
	default:
		return fmt.Sprintf("unexpected type %T", got)
	}
	return ""
}

// formatGolden renders a computed value the way the golden files write it,
// for failure messages.
func formatGolden(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.UTC().Format(goldenTimeLayout)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
