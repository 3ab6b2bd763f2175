package compute_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

var (
	// march and june are the golden set's two as_of instants.
	march = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	june  = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
)

var goldenShops = []string{"shop-0", "shop-1"}

// goldenDB returns a fresh database holding the golden inputs.
func goldenDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := testenv.GoldenPostgres(t)
	return pool
}

// newEngine returns an engine on pool with the default settings, adjusted
// by tune when not nil.
func newEngine(t *testing.T, pool *pgxpool.Pool, tune func(*compute.Config)) *compute.Engine {
	t.Helper()
	cfg := compute.DefaultConfig()
	if tune != nil {
		tune(&cfg)
	}
	e, err := compute.NewEngine(store.New(pool), cfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// mustRun runs req to its end.
func mustRun(t *testing.T, e *compute.Engine, req compute.Request) compute.Summary {
	t.Helper()
	sum, err := e.Run(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("%s run of %s at %s: %v", req.Mode, req.ShopID, req.AsOf.Format(time.RFC3339), err)
	}
	return sum
}

// TestGoldenAtAPastInstant computes the golden set at 2025-03-01 in each
// way a past instant can be asked for, with one worker and with several:
// the rows streamed by ComputeRows, and the table after a FULL run, both
// equal the expected file.
func TestGoldenAtAPastInstant(t *testing.T) {
	t.Parallel()
	expected := testenv.ReadExpected(t, "expected_interaction_features_as_of_2025-03-01.csv")
	pool := goldenDB(t)
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			e := newEngine(t, pool, func(c *compute.Config) { c.Workers = workers })
			for _, shop := range goldenShops {
				var rows []store.StoredRow
				err := e.ComputeRows(context.Background(), compute.RowsRequest{ShopID: shop, AsOf: march}, func(r *store.StoredRow) error {
					rows = append(rows, *r)
					return nil
				})
				if err != nil {
					t.Fatalf("ComputeRows(%s): %v", shop, err)
				}
				testenv.CompareRows(t, shop, rows, expected, march)
				mustRun(t, e, compute.Request{ShopID: shop, AsOf: march, Mode: compute.Full})
			}
			testenv.CompareTable(t, pool, expected, march)
		})
	}
}

// TestComputeRowsResumes reads a shop's point-in-time rows in two pieces,
// the second starting after the last pair of the first, and with a customer
// subset: the pieces are exactly the whole.
func TestComputeRowsResumes(t *testing.T) {
	t.Parallel()
	pool := goldenDB(t)
	e := newEngine(t, pool, nil)
	ctx := context.Background()
	collect := func(req compute.RowsRequest, limit int) []store.StoredRow {
		var rows []store.StoredRow
		errEnough := errors.New("enough")
		err := e.ComputeRows(ctx, req, func(r *store.StoredRow) error {
			if len(rows) == limit {
				return errEnough
			}
			rows = append(rows, *r)
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			t.Fatalf("ComputeRows: %v", err)
		}
		return rows
	}
	all := collect(compute.RowsRequest{ShopID: "shop-0", AsOf: june}, -1)
	first := collect(compute.RowsRequest{ShopID: "shop-0", AsOf: june}, 100)
	last := first[len(first)-1]
	rest := collect(compute.RowsRequest{ShopID: "shop-0", AsOf: june, After: &store.PairKey{CustomerID: last.CustomerID, ProductID: last.ProductID}}, -1)
	if got := append(first, rest...); !sameRows(got, all) {
		t.Errorf("%d + %d resumed rows differ from the %d of one read", len(first), len(rest), len(all))
	}

	customer := all[0].CustomerID
	var want []store.StoredRow
	for _, r := range all {
		if r.CustomerID == customer {
			want = append(want, r)
		}
	}
	if got := collect(compute.RowsRequest{ShopID: "shop-0", AsOf: june, CustomerIDs: []string{customer}}, -1); !sameRows(got, want) {
		t.Errorf("rows of customer %s: got %d rows, want %d equal to the whole read's", customer, len(got), len(want))
	}

	err := e.ComputeRows(ctx, compute.RowsRequest{ShopID: "shop-0"}, func(*store.StoredRow) error { return nil })
	if fe, ok := invalid.As(err); !ok || fe.Field != "as_of" {
		t.Errorf("ComputeRows without as_of: %v, want an invalid as_of", err)
	}
}

// sameRows compares rows' pairs, features and as_of.
func sameRows(a, b []store.StoredRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].CustomerID != b[i].CustomerID || a[i].ProductID != b[i].ProductID ||
			a[i].Vector != b[i].Vector || !a[i].AsOf.Equal(b[i].AsOf) {
			return false
		}
	}
	return true
}

// exec runs sql on pool.
func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// storedRows returns a shop's stored rows by pair.
func storedRows(t *testing.T, pool *pgxpool.Pool, shop string) map[store.PairKey]store.StoredRow {
	t.Helper()
	out := map[store.PairKey]store.StoredRow{}
	for _, r := range testenv.StoredRows(t, pool, shop) {
		out[store.PairKey{CustomerID: r.CustomerID, ProductID: r.ProductID}] = r
	}
	return out
}

// pairsOf runs a query that selects (customer_id, product_id).
func pairsOf(t *testing.T, pool *pgxpool.Pool, sql string) []store.PairKey {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.PairKey])
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
