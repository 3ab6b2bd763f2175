package compute_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// customer and product name the golden set's ids.
func customer(n int) string { return fmt.Sprintf("gid://shopify/Customer/%d", n) }
func product(n int) string  { return fmt.Sprintf("gid://shopify/Product/%d", n) }

// changeGoldenShop writes to shop-0's inputs what a day of a shop brings:
// late events, new pairs, new orders (one whose lines arrive first), a
// price change, deleted events, an order moved to another customer, a
// rewrite that changes nothing, and an event of another shop. It returns
// the pairs of shop-0 whose inputs changed, found from the data rather than
// from the change log.
func changeGoldenShop(t *testing.T, pool *pgxpool.Pool) map[store.PairKey]bool {
	t.Helper()
	event := `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, page_type, device_type,
		referrer_type, view_duration, created_at) VALUES ($1, $2, $3, $4, $5, 'search', 'mobile', 'social', 40, $6)`
	// A late event: created long before the last run, ingested after it.
	exec(t, pool, event, "late-1", "shop-0", customer(1000), product(9015), "product_viewed", "2024-12-01 10:00:00")
	exec(t, pool, event, "new-1", "shop-0", customer(1001), product(9999), "add_to_cart", "2025-04-01 10:00:00")
	exec(t, pool, event, "other-1", "shop-1", customer(1000), product(9015), "product_viewed", "2025-04-01 10:00:00")
	exec(t, pool, `INSERT INTO order_data (id, shop_id, order_id, customer_id, total_price, created_at)
		VALUES ('shop-0/test-1', 'shop-0', 'test-1', $1, 20, '2025-04-02')`, customer(1002))
	exec(t, pool, `INSERT INTO line_item_data (id, shop_id, order_id, product_id, quantity, price)
		VALUES ('test-1-a', 'shop-0', 'test-1', $1, 2, 10), ('test-1-b', 'shop-0', 'test-1', $2, NULL, NULL)`, product(9001), product(9002))
	exec(t, pool, `INSERT INTO line_item_data (id, shop_id, order_id, product_id, quantity, price)
		VALUES ('test-2-a', 'shop-0', 'test-2', $1, 1, 5)`, product(9005))
	exec(t, pool, `INSERT INTO order_data (id, shop_id, order_id, customer_id, total_price, created_at)
		VALUES ('shop-0/test-2', 'shop-0', 'test-2', $1, 5, '2025-05-01')`, customer(1004))
	exec(t, pool, `UPDATE product_data SET price = price + 1 WHERE shop_id = 'shop-0' AND product_id = $1`, product(9022))
	exec(t, pool, `DELETE FROM user_interactions WHERE shop_id = 'shop-0' AND customer_id = $1 AND product_id = $2`, customer(1000), product(9017))
	moved := pairsOf(t, pool, `SELECT o.customer_id, li.product_id FROM order_data o
		JOIN line_item_data li ON li.shop_id = o.shop_id AND li.order_id = o.order_id
		WHERE o.shop_id = 'shop-0' AND o.order_id = 'gid://shopify/Order/50004'`)
	exec(t, pool, `UPDATE order_data SET customer_id = $1 WHERE shop_id = 'shop-0' AND order_id = 'gid://shopify/Order/50004'`, customer(1003))
	exec(t, pool, `UPDATE order_data SET total_price = total_price WHERE shop_id = 'shop-0'`)

	changed := map[store.PairKey]bool{
		{CustomerID: customer(1000), ProductID: product(9015)}: true,
		{CustomerID: customer(1001), ProductID: product(9999)}: true,
		{CustomerID: customer(1002), ProductID: product(9001)}: true,
		{CustomerID: customer(1002), ProductID: product(9002)}: true,
		{CustomerID: customer(1004), ProductID: product(9005)}: true,
		{CustomerID: customer(1000), ProductID: product(9017)}: true,
	}
	for _, k := range moved {
		changed[k] = true
		changed[store.PairKey{CustomerID: customer(1003), ProductID: k.ProductID}] = true
	}
	repriced := pairsOf(t, pool, `SELECT o.customer_id, li.product_id FROM line_item_data li
		JOIN order_data o ON o.shop_id = li.shop_id AND o.order_id = li.order_id
		WHERE li.shop_id = 'shop-0' AND li.product_id = 'gid://shopify/Product/9022' AND li.price IS NULL AND o.customer_id <> ''`)
	if len(moved) == 0 || len(repriced) == 0 {
		t.Fatal("the golden set no longer has the order or the unpriced line these changes need")
	}
	for _, k := range repriced {
		changed[k] = true
	}
	return changed
}

// TestIncrementalEqualsFullOnChangedPairs runs FULL, changes the inputs,
// then runs INCREMENTAL at a later as_of. Beside it, a second database gets
// the same changes and a FULL run at that later as_of. Every changed pair
// must be as the FULL run wrote it (or absent with it), and every other row
// exactly as before, down to its as_of and last_computed_at.
func TestIncrementalEqualsFullOnChangedPairs(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			t.Parallel()
			pool, reference := goldenDB(t), goldenDB(t)
			e := newEngine(t, pool, func(c *compute.Config) { c.Workers = workers })
			for _, shop := range goldenShops {
				mustRun(t, e, compute.Request{ShopID: shop, AsOf: march, Mode: compute.Full})
			}
			before, otherShop := storedRows(t, pool, "shop-0"), storedRows(t, pool, "shop-1")
			changed := changeGoldenShop(t, pool)
			changeGoldenShop(t, reference)

			sum := mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Incremental})
			mustRun(t, newEngine(t, reference, nil), compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full})
			after, full := storedRows(t, pool, "shop-0"), storedRows(t, reference, "shop-0")

			var written, deleted int64
			for key := range union(before, after, full) {
				got, ok := after[key]
				if !changed[key] {
					if was, wasOK := before[key]; ok != wasOK || got != was {
						t.Errorf("unchanged pair %v: %s, want it untouched: %s", key, describe(got, ok), describe(was, wasOK))
					}
					continue
				}
				want, exists := full[key]
				switch {
				case ok != exists:
					t.Errorf("changed pair %v: %s, want %s as FULL has it", key, describe(got, ok), describe(want, exists))
				case exists && (got.Vector != want.Vector || !got.AsOf.Equal(june)):
					t.Errorf("changed pair %v:\n got %+v\nwant %+v (as of %s)", key, got, want, june)
				}
				if exists {
					written++
				} else if _, was := before[key]; was {
					deleted++
				}
			}
			if sum.Mode != compute.Incremental || sum.PairsWritten != written || sum.PairsDeleted != deleted {
				t.Errorf("summary: %s run, %d pairs written, %d deleted; want incremental, %d, %d",
					sum.Mode, sum.PairsWritten, sum.PairsDeleted, written, deleted)
			}
			if got := storedRows(t, pool, "shop-1"); !equalRows(got, otherShop) {
				t.Error("the incremental run of shop-0 changed shop-1's rows")
			}
			if n := pendingChanges(t, pool, "shop-0"); n != 0 {
				t.Errorf("%d changes of shop-0 left after its incremental run, want 0", n)
			}
			if n := pendingChanges(t, pool, "shop-1"); n == 0 {
				t.Error("shop-1's change was consumed by shop-0's run")
			}

			// With nothing changed since, the next run writes nothing.
			sum = mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Incremental})
			if sum.PairsWritten != 0 || sum.PairsDeleted != 0 || sum.EventsRead != 0 {
				t.Errorf("incremental run without changes: %+v, want nothing read or written", sum)
			}
		})
	}
}

// TestBulkChangesRecomputeTheirCustomers makes changes in statements that
// count as bulk, which the log records by customer: deleting every event of
// a pair, and adding a pair. The INCREMENTAL run recomputes every pair of
// those customers, removes the pair whose events are gone, and leaves the
// other customers' rows as they were, so the table equals a FULL run's.
func TestBulkChangesRecomputeTheirCustomers(t *testing.T) {
	t.Parallel()
	pool, reference := goldenDB(t), goldenDB(t)
	e := newEngine(t, pool, nil)
	mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full})
	before := storedRows(t, pool, "shop-0")
	for _, p := range []*pgxpool.Pool{pool, reference} {
		tx, err := p.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, sql := range []string{
			`SET LOCAL featurestore.bulk_events = 0`,
			`DELETE FROM user_interactions WHERE shop_id = 'shop-0' AND customer_id = '` + customer(1000) + `' AND product_id = '` + product(9017) + `'`,
			`INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
				VALUES ('bulk-1', 'shop-0', '` + customer(1001) + `', 'new-product', 'product_viewed', '2025-05-01')`,
		} {
			if _, err := tx.Exec(context.Background(), sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		if err := tx.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	sum := mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Incremental})
	mustRun(t, newEngine(t, reference, nil), compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full})
	after, full := storedRows(t, pool, "shop-0"), storedRows(t, reference, "shop-0")
	if !equalVectors(after, full) {
		t.Error("after the incremental run, the table differs from a FULL run's")
	}
	var recomputed int64
	for key, row := range after {
		if key.CustomerID == customer(1000) || key.CustomerID == customer(1001) {
			recomputed++
		} else if row != before[key] {
			t.Errorf("pair %v of a customer without changes was rewritten", key)
		}
	}
	if sum.PairsWritten != recomputed || sum.PairsDeleted != 1 {
		t.Errorf("summary: %d pairs written, %d deleted; want the %d pairs of the two customers, 1", sum.PairsWritten, sum.PairsDeleted, recomputed)
	}
}

// TestIncrementalWithoutABaseRunsFull checks that an INCREMENTAL run of a
// shop that never had a FULL run (whose rows may predate the change log)
// computes every pair, and says so.
func TestIncrementalWithoutABaseRunsFull(t *testing.T) {
	t.Parallel()
	pool := goldenDB(t)
	e := newEngine(t, pool, nil)
	exec(t, pool, `DELETE FROM feature_changes`) // as if the data predated the log
	sum := mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: march, Mode: compute.Incremental})
	if sum.Mode != compute.Full {
		t.Errorf("mode = %s, want full", sum.Mode)
	}
	expected := testenv.ReadExpected(t, "expected_interaction_features_as_of_2025-03-01.csv")
	testenv.CompareRows(t, "shop-0", testenv.StoredRows(t, pool, "shop-0"), expected, march)
}

// TestInterruptedRunThenNewRun stops a run part of the way, in the ways a
// run can stop, then runs again: the table must be what one uninterrupted
// run writes. Many changed pairs make the incremental run several parts.
func TestInterruptedRunThenNewRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode compute.Mode
		// kill stops the run on pool, whose connections are named doomed.
		kill func(t *testing.T, pool *pgxpool.Pool, cancel context.CancelFunc)
	}{
		{"incremental cancelled", compute.Incremental, func(_ *testing.T, _ *pgxpool.Pool, cancel context.CancelFunc) { cancel() }},
		{"incremental connections killed", compute.Incremental, killDoomed},
		{"full cancelled", compute.Full, func(_ *testing.T, _ *pgxpool.Pool, cancel context.CancelFunc) { cancel() }},
		{"full connections killed", compute.Full, killDoomed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prepare := func() (*pgxpool.Pool, string) {
				pool, url := testenv.GoldenPostgres(t)
				mustRun(t, newEngine(t, pool, nil), compute.Request{ShopID: "shop-0", AsOf: march, Mode: compute.Full})
				changeGoldenShop(t, pool)
				exec(t, pool, `UPDATE user_interactions SET view_duration = view_duration + 1
					WHERE shop_id = 'shop-0' AND right(id, 1) IN ('1', '2', '3')`)
				return pool, url
			}
			reference, _ := prepare()
			mustRun(t, newEngine(t, reference, nil), compute.Request{ShopID: "shop-0", AsOf: june, Mode: tc.mode})

			pool, url := prepare()
			stopRun(t, pool, url, compute.Request{ShopID: "shop-0", AsOf: june, Mode: tc.mode}, tc.kill)
			if n := pendingChanges(t, pool, "shop-0"); n == 0 {
				t.Fatal("the stopped run consumed the change log")
			}

			mustRun(t, newEngine(t, pool, nil), compute.Request{ShopID: "shop-0", AsOf: june, Mode: tc.mode})
			got, want := testenv.StoredRows(t, pool, "shop-0"), testenv.StoredRows(t, reference, "shop-0")
			if len(got) != len(want) {
				t.Fatalf("%d rows after the stopped run and a new one, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i].CustomerID != want[i].CustomerID || got[i].ProductID != want[i].ProductID ||
					got[i].Vector != want[i].Vector || !got[i].AsOf.Equal(want[i].AsOf) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// stopRun runs req on pool's database, one row per batch, through
// connections named doomed, and stops it with kill once it has written
// some rows; it fails the test unless the run was stopped.
func stopRun(t *testing.T, pool *pgxpool.Pool, url string, req compute.Request, kill func(t *testing.T, pool *pgxpool.Pool, cancel context.CancelFunc)) {
	t.Helper()
	// Named after the database: tests of other checkouts may share the
	// server and end connections by name.
	doomed, err := store.Open(context.Background(), withParam(url, "application_name=doomed-"+pool.Config().ConnConfig.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer doomed.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEngine(t, doomed, func(c *compute.Config) {
		c.BatchSize, c.Workers, c.ProgressInterval = 1, 3, time.Millisecond
	})
	killed := false
	_, err = e.Run(ctx, req, func(p compute.Progress) {
		if p.PairsWritten >= 3 && !killed {
			killed = true
			kill(t, pool, cancel)
		}
	})
	if err == nil || !killed {
		t.Fatalf("the run ended (%v) before it could be stopped", err)
	}
}

// killDoomed ends every connection to pool's database named doomed after
// it, as a crash of the server that held them would, and waits until they
// are gone. Other databases' connections are not its to end: tests run at
// once.
func killDoomed(t *testing.T, pool *pgxpool.Pool, _ context.CancelFunc) {
	exec(t, pool, `SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
		WHERE application_name = 'doomed-' || current_database() AND datname = current_database()`)
}

// describe shows whether a row is stored and, if so, when it was computed.
func describe(r store.StoredRow, ok bool) string {
	if !ok {
		return "no row"
	}
	return fmt.Sprintf("row as of %s written at %s", r.AsOf.Format(time.RFC3339), r.ComputedAt.Format(time.RFC3339Nano))
}

// withParam adds a query parameter to a database URL.
func withParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

// pendingChanges counts a shop's rows in the change log.
func pendingChanges(t *testing.T, pool *pgxpool.Pool, shop string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM feature_changes WHERE shop_id = $1`, shop).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// union returns the keys of several maps.
func union(maps ...map[store.PairKey]store.StoredRow) map[store.PairKey]bool {
	out := map[store.PairKey]bool{}
	for _, m := range maps {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

// equalVectors compares the pairs, features and as_of of two sets of rows.
func equalVectors(a, b map[store.PairKey]store.StoredRow) bool {
	if len(a) != len(b) {
		return false
	}
	for k, r := range a {
		if o, ok := b[k]; !ok || o.Vector != r.Vector || !o.AsOf.Equal(r.AsOf) {
			return false
		}
	}
	return true
}

// equalRows compares two sets of rows exactly.
func equalRows(a, b map[store.PairKey]store.StoredRow) bool {
	if len(a) != len(b) {
		return false
	}
	for k, r := range a {
		if o, ok := b[k]; !ok || o != r {
			return false
		}
	}
	return true
}
