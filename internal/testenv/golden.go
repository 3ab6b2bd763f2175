package testenv

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv/golden"
)

// GoldenDir is the repository's copy of the golden data set.
func GoldenDir() string { return golden.Dir() }

// goldenInputs are the golden input tables, in load order.
var goldenInputs = []string{"product_data", "customer_data", "order_data", "line_item_data", "user_interactions"}

// LoadGolden copies the golden input tables into the database the way the
// data set's README prescribes: COPY ... (FORMAT csv, HEADER true) with the
// header's columns, in a session whose time zone is UTC.
func LoadGolden(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire connection: %v", err)
	}
	defer conn.Release()
	for _, table := range goldenInputs {
		path := filepath.Join(GoldenDir(), table+".csv")
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("open golden input: %v", err)
		}
		header, err := csv.NewReader(f).Read()
		if err != nil {
			t.Fatalf("read header of %s: %v", path, err)
		}
		if _, err := f.Seek(0, 0); err != nil {
			t.Fatalf("rewind %s: %v", path, err)
		}
		sql := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT csv, HEADER true)", table, strings.Join(header, ", "))
		_, err = conn.Conn().PgConn().CopyFrom(ctx, f, sql)
		f.Close()
		if err != nil {
			t.Fatalf("load %s: %v", table, err)
		}
	}
}

// ExpectedRow is one row of an expected_interaction_features file: the pair
// and each feature's text, "" for NULL.
type ExpectedRow struct {
	ShopID, CustomerID, ProductID string
	Values                        map[string]string
}

// ReadExpected reads an expected-features file of the golden set, checking
// that its columns are exactly the pair and the catalogue's features.
func ReadExpected(t testing.TB, name string) []ExpectedRow {
	t.Helper()
	table, err := golden.ReadTable(name)
	if err != nil {
		t.Fatal(err)
	}
	header := table.Header
	want := append([]string{"shop_id", "customer_id", "product_id"}, features.Names()...)
	if strings.Join(header, ",") != strings.Join(want, ",") {
		t.Fatalf("%s columns differ from the catalogue:\n got %v\nwant %v", name, header, want)
	}
	rows := make([]ExpectedRow, 0, len(table.Rows))
	for _, rec := range table.Rows {
		r := ExpectedRow{ShopID: rec[0], CustomerID: rec[1], ProductID: rec[2], Values: make(map[string]string, len(rec)-3)}
		for i, col := range header[3:] {
			r.Values[col] = rec[i+3]
		}
		rows = append(rows, r)
	}
	return rows
}

// FloatsEqual compares floats as FEATURES.md prescribes: 1e-9 relative,
// 1e-12 absolute near zero.
func FloatsEqual(got, want float64) bool { return golden.FloatsEqual(got, want) }

// CompareValue checks one feature value (as a database driver returns it:
// integers, float64, time.Time, string, or nil) against its expected text,
// and returns a description of the difference, or "". The value must be of
// the Go type the feature's catalogue type calls for; golden.Match compares
// it.
func CompareValue(d features.Descriptor, got any, want string) string {
	ok := true
	switch got.(type) {
	case nil:
	case int32, int64:
		ok = d.Type == features.TypeInt
	case float64:
		ok = d.Type == features.TypeFloat
	case time.Time:
		ok = d.Type == features.TypeTimestamp
	case string:
		ok = d.Type == features.TypeString
	default:
		ok = false
	}
	if !ok {
		return fmt.Sprintf("got %T %v, want a %s value %q", got, got, d.Type, want)
	}
	return golden.Match(got, want)
}

// CompareTable checks that interaction_features holds exactly the expected
// rows, every column, each carrying asOf and the current features version.
// It reports at most 20 differences.
func CompareTable(t testing.TB, pool *pgxpool.Pool, expected []ExpectedRow, asOf time.Time) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, fmt.Sprintf(`SELECT shop_id, customer_id, product_id, as_of, features_version, last_computed_at, %s
		FROM interaction_features ORDER BY shop_id, customer_id, product_id`, strings.Join(features.Names(), ", ")))
	if err != nil {
		t.Fatalf("read interaction_features: %v", err)
	}
	defer rows.Close()
	d := rowsDiff{t: t, expected: expected, asOf: asOf}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("decode row: %v", err)
		}
		shop, customer, product := vals[0].(string), vals[1].(string), vals[2].(string)
		if vals[5] == nil {
			d.fail("%s/%s/%s last_computed_at is NULL", shop, customer, product)
		}
		d.row(shop, customer, product, vals[3].(time.Time), vals[4].(int32), vals[6:])
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read interaction_features: %v", err)
	}
	d.finish()
}

// CompareRows checks that rows, a shop's rows in (customer_id, product_id)
// order as a computation delivered them, are exactly the expected rows of
// that shop, every feature, each carrying asOf and the current features
// version. It reports at most 20 differences.
func CompareRows(t testing.TB, shopID string, rows []store.StoredRow, expected []ExpectedRow, asOf time.Time) {
	t.Helper()
	var want []ExpectedRow
	for _, r := range expected {
		if r.ShopID == shopID {
			want = append(want, r)
		}
	}
	d := rowsDiff{t: t, expected: want, asOf: asOf}
	for i := range rows {
		r := &rows[i]
		d.row(shopID, r.CustomerID, r.ProductID, r.AsOf, r.Version, r.Vector.AppendValues(nil))
	}
	d.finish()
}

// rowsDiff compares rows, one at a time and in order, with the expected
// ones, and reports at most 20 differences.
type rowsDiff struct {
	t        testing.TB
	expected []ExpectedRow
	asOf     time.Time
	failures int
	i        int
}

func (d *rowsDiff) fail(format string, args ...any) {
	d.t.Helper()
	d.failures++
	if d.failures <= 20 {
		d.t.Errorf(format, args...)
	}
}

// row compares the next row, whose features are values in catalogue order
// (as a database driver returns them, or as Vector.AppendValues does).
func (d *rowsDiff) row(shop, customer, product string, asOf time.Time, version int32, values []any) {
	d.t.Helper()
	if d.i >= len(d.expected) {
		d.fail("unexpected extra row %s/%s/%s", shop, customer, product)
		d.i++
		return
	}
	want := d.expected[d.i]
	d.i++
	if shop != want.ShopID || customer != want.CustomerID || product != want.ProductID {
		d.t.Fatalf("row %d is %s/%s/%s, want %s/%s/%s: the set of pairs differs", d.i, shop, customer, product, want.ShopID, want.CustomerID, want.ProductID)
	}
	if !asOf.Equal(d.asOf) {
		d.fail("%s/%s/%s as_of = %s, want %s", shop, customer, product, asOf, d.asOf)
	}
	if version != features.Version {
		d.fail("%s/%s/%s features_version = %d, want %d", shop, customer, product, version, features.Version)
	}
	for j, desc := range features.Catalog() {
		if diff := CompareValue(desc, values[j], want.Values[desc.Name]); diff != "" {
			d.fail("%s/%s/%s %s: %s", shop, customer, product, desc.Name, diff)
		}
	}
}

// finish reports missing rows, or how much matched.
func (d *rowsDiff) finish() {
	d.t.Helper()
	if d.i != len(d.expected) {
		d.t.Errorf("%d rows, want %d", d.i, len(d.expected))
	}
	if d.failures > 20 {
		d.t.Errorf("... and %d more differences", d.failures-20)
	}
	if d.failures == 0 && d.i == len(d.expected) {
		d.t.Logf("all %d rows x %d features match", len(d.expected), features.Count())
	}
}
