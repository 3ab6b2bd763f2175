package compute_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// identifyByClients rewrites the golden input as a storefront that knows
// its customers mostly by an anonymous client id would have stored it, the
// check of FEATURES.md 1.4: every row of an identified customer gets one
// client id, and every row but the customer's earliest loses its customer
// id (NULL or empty, in turn). The output must not change at any as_of.
// It returns how many rows lost their customer.
func identifyByClients(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	tag, err := pool.Exec(context.Background(), `
WITH ranked AS (
    SELECT id, shop_id, customer_id,
           row_number() OVER (PARTITION BY shop_id, customer_id ORDER BY created_at NULLS LAST, id COLLATE "C") AS n
      FROM user_interactions WHERE customer_id <> ''
)
UPDATE user_interactions u
   SET client_id = 'client/' || r.customer_id,
       customer_id = CASE WHEN r.n = 1 THEN u.customer_id WHEN r.n % 2 = 0 THEN NULL ELSE '' END
  FROM ranked r
 WHERE u.shop_id = r.shop_id AND u.id = r.id`)
	if err != nil {
		t.Fatalf("identify the golden customers by client ids: %v", err)
	}
	var anonymous int64
	if err := pool.QueryRow(context.Background(), `
SELECT count(*) FROM user_interactions WHERE client_id <> '' AND coalesce(customer_id, '') = ''`).Scan(&anonymous); err != nil {
		t.Fatal(err)
	}
	if anonymous < tag.RowsAffected()/2 {
		t.Fatalf("%d of %d rows of identified customers lost their customer: the check would prove little", anonymous, tag.RowsAffected())
	}
	return anonymous
}

// TestIdentityResolutionKeepsTheGoldenOutput is FEATURES.md 1.4's check on
// the golden set, through every way a run reads a shop: after the golden
// customers are known only by client ids but for their earliest rows, FULL
// runs (on one worker and on several, whose parts are ranges of resolved
// customers), point-in-time rows and runs of some customers all produce
// exactly the expected files, at both of their as_of.
func TestIdentityResolutionKeepsTheGoldenOutput(t *testing.T) {
	pool := goldenDB(t)
	anonymous := identifyByClients(t, pool)
	t.Logf("%d golden rows are anonymous, attributed through their client's link", anonymous)
	subset := []string{customer(1000), customer(1003), customer(1017)}
	for _, tc := range []struct {
		asOf     time.Time
		expected string
	}{
		{june, "expected_interaction_features.csv"},
		{march, "expected_interaction_features_as_of_2025-03-01.csv"},
	} {
		expected := testenv.ReadExpected(t, tc.expected)
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s %d workers", tc.asOf.Format(time.DateOnly), workers), func(t *testing.T) {
				e := newEngine(t, pool, func(c *compute.Config) { c.Workers = workers })
				for _, shop := range goldenShops {
					var rows []store.StoredRow
					err := e.ComputeRows(context.Background(), compute.RowsRequest{ShopID: shop, AsOf: tc.asOf}, func(r *store.StoredRow) error {
						rows = append(rows, *r)
						return nil
					})
					if err != nil {
						t.Fatalf("ComputeRows(%s): %v", shop, err)
					}
					testenv.CompareRows(t, shop, rows, expected, tc.asOf)
					mustRun(t, e, compute.Request{ShopID: shop, AsOf: tc.asOf, Mode: compute.Full, AllowPastAsOf: true})
				}
				testenv.CompareTable(t, pool, expected, tc.asOf)
			})
		}
		t.Run(tc.asOf.Format(time.DateOnly)+" some customers", func(t *testing.T) {
			e := newEngine(t, pool, nil)
			want := expectedOf(expected, subset)
			var rows []store.StoredRow
			err := e.ComputeRows(context.Background(), compute.RowsRequest{ShopID: "shop-0", AsOf: tc.asOf, CustomerIDs: subset}, func(r *store.StoredRow) error {
				rows = append(rows, *r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			testenv.CompareRows(t, "shop-0", rows, want, tc.asOf)
			// A run of the subset rewrites those customers' rows, and only
			// theirs, as the whole shop's run wrote them.
			exec(t, pool, `DELETE FROM interaction_features WHERE shop_id = 'shop-0' AND customer_id = ANY($1)`, subset)
			mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: tc.asOf, CustomerIDs: subset, Mode: compute.Full, AllowPastAsOf: true})
			testenv.CompareTable(t, pool, expected, tc.asOf)
		})
	}
}

// expectedOf keeps the expected rows of some customers.
func expectedOf(expected []testenv.ExpectedRow, customers []string) []testenv.ExpectedRow {
	var out []testenv.ExpectedRow
	for _, r := range expected {
		if slices.Contains(customers, r.CustomerID) {
			out = append(out, r)
		}
	}
	return out
}

// interaction is a row of user_interactions for the tests below: "" is
// NULL, and created_at is minutes after identityStart.
type interaction struct {
	id, customer, client, product, event string
	minute                               int
}

// identityStart is when the small shops below begin.
var identityStart = time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC)

func minute(m int) time.Time { return identityStart.Add(time.Duration(m) * time.Minute) }

// insertInteractions writes rows into shop, with a search page and a
// mobile device so that the view features have something to count.
func insertInteractions(t *testing.T, pool *pgxpool.Pool, shop string, rows []interaction) {
	t.Helper()
	null := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	for _, r := range rows {
		exec(t, pool, `INSERT INTO user_interactions (id, shop_id, customer_id, client_id, product_id, event_type, page_type, device_type, view_duration, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'search', 'mobile', 30, $7)`,
			shop+"/"+r.id, shop, null(r.customer), null(r.client), null(r.product), r.event, minute(r.minute))
	}
}

// pointInTime returns the rows ComputeRows computes for shop at asOf.
func pointInTime(t *testing.T, e *compute.Engine, shop string, asOf time.Time) []store.StoredRow {
	t.Helper()
	var rows []store.StoredRow
	err := e.ComputeRows(context.Background(), compute.RowsRequest{ShopID: shop, AsOf: asOf}, func(r *store.StoredRow) error {
		rows = append(rows, *r)
		return nil
	})
	if err != nil {
		t.Fatalf("ComputeRows(%s at %s): %v", shop, asOf.Format(time.RFC3339), err)
	}
	return rows
}

// pairsOfRows lists rows' pairs as "customer/product".
func pairsOfRows(rows []store.StoredRow) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.CustomerID+"/"+r.ProductID)
	}
	return out
}

// TestIdentityResolutionCases computes small shops whose anonymous rows
// resolve in the ways FEATURES.md 1.4 spells out, each beside the same
// rows stored with the customer that resolution must find: at each as_of,
// the two shops must have exactly the same pairs and features.
func TestIdentityResolutionCases(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	e := newEngine(t, pool, nil)
	for i, tc := range []struct {
		name string
		// rows as stored, and the customer each must resolve to ("" for
		// none): the second shop stores them with it.
		rows     []interaction
		resolved []string
		// unlinked are instants (minutes) before the link, at which the
		// shop must have no pair; at each of asOf it must equal the
		// identified shop, and have pairs at the first.
		unlinked, asOf []int
		pairs          []string
	}{
		{
			name: "a client linked after a past as_of attributes nothing before it, everything after",
			rows: []interaction{
				{"e1", "", "k", "p1", "product_viewed", 0},
				{"e2", "", "k", "p1", "product_viewed", 10},
				{"e3", "", "k", "p2", "product_added_to_cart", 12},
				{"e4", "c1", "k", "", "page_viewed", 60}, // the visitor logs in
				{"e5", "", "k", "p1", "product_viewed", 90},
			},
			resolved: []string{"c1", "c1", "c1", "c1", "c1"},
			unlinked: []int{30, 59},
			asOf:     []int{60, 120},
			pairs:    []string{"c1/p1", "c1/p2"},
		},
		{
			name: "later rows naming another customer leave the first link standing",
			rows: []interaction{
				{"e1", "c1", "k", "p1", "product_viewed", 0},
				{"e2", "", "k", "p2", "product_viewed", 5},
				{"e3", "c2", "k", "p3", "product_viewed", 10}, // another account on the same browser
				{"e4", "", "k", "p2", "product_viewed", 20},
				{"e5", "", "k", "p3", "product_viewed", 25},
			},
			resolved: []string{"c1", "c1", "c2", "c1", "c1"},
			asOf:     []int{30},
			pairs:    []string{"c1/p1", "c1/p2", "c1/p3", "c2/p3"},
		},
		{
			name: "linking rows at the same instant: the first by id, byte by byte",
			rows: []interaction{
				{"e-B", "c2", "k", "", "page_viewed", 0},
				{"e-a", "c1", "k", "", "page_viewed", 0},
				{"e-A", "c3", "k", "", "page_viewed", 0},
				{"e1", "", "k", "p1", "product_viewed", 5},
			},
			resolved: []string{"c2", "c1", "c3", "c3"},
			asOf:     []int{30},
			pairs:    []string{"c3/p1"},
		},
		{
			name: "resolved rows and the customer's own interleave in time",
			rows: []interaction{
				{"e2", "c1", "k", "p1", "product_viewed", 0},
				{"e1", "", "k", "p1", "product_viewed", 0},
				{"e4", "", "k", "p1", "product_viewed", 20},
				{"e0", "c1", "", "p1", "product_viewed", 30},
				{"e3", "", "k", "p1", "product_viewed", 70},
				{"e5", "c1", "", "p1", "product_added_to_cart", 71},
			},
			resolved: []string{"c1", "c1", "c1", "c1", "c1", "c1"},
			asOf:     []int{90},
			pairs:    []string{"c1/p1"},
		},
		{
			name: "a client never identified, and one identified by an empty id, make no pair",
			rows: []interaction{
				{"e1", "", "k", "p1", "product_viewed", 0},
				{"e2", "", "", "p1", "product_viewed", 1},
				{"e3", "c1", "k2", "p1", "product_viewed", 2},
				{"e4", "", "k3", "p1", "product_viewed", 3},
			},
			resolved: []string{"", "", "c1", ""},
			asOf:     []int{30},
			pairs:    []string{"c1/p1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			anonymous, identified := fmt.Sprintf("anonymous-%d", i), fmt.Sprintf("identified-%d", i)
			insertInteractions(t, pool, anonymous, tc.rows)
			known := slices.Clone(tc.rows)
			for j := range known {
				known[j].customer = tc.resolved[j]
			}
			insertInteractions(t, pool, identified, known)
			for _, m := range tc.unlinked {
				if got := pointInTime(t, e, anonymous, minute(m)); len(got) != 0 {
					t.Errorf("at minute %d, before the link: pairs %q, want none", m, pairsOfRows(got))
				}
			}
			for j, m := range tc.asOf {
				asOf := minute(m)
				got := pointInTime(t, e, anonymous, asOf)
				if j == 0 && !slices.Equal(pairsOfRows(got), tc.pairs) {
					t.Errorf("pairs at minute %d = %q, want %q", m, pairsOfRows(got), tc.pairs)
				}
				want := pointInTime(t, e, identified, asOf)
				if !sameRows(got, want) {
					t.Errorf("at minute %d:\n got %v\nwant %v", m, got, want)
				}
			}
			// A stored run agrees with the point-in-time rows.
			last := minute(tc.asOf[len(tc.asOf)-1])
			mustRun(t, e, compute.Request{ShopID: anonymous, AsOf: last, Mode: compute.Full})
			if got, want := testenv.StoredRows(t, pool, anonymous), pointInTime(t, e, identified, last); !sameRows(got, want) {
				t.Errorf("stored rows after a FULL run:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestIncrementalAfterNewLinksEqualsFull changes links under an
// INCREMENTAL run and checks, after each change, that the table equals
// what a FULL run writes from the same inputs: first links that arrive
// late (their anonymous rows join the customer), a link moved to another
// customer by an earlier linking row (the rows leave one customer for
// another, whose vanished pairs are deleted), and that row deleted again.
func TestIncrementalAfterNewLinksEqualsFull(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			pool, reference := goldenDB(t), goldenDB(t)
			held := []string{customer(1001), customer(1002), customer(1005)}
			for _, p := range []*pgxpool.Pool{pool, reference} {
				identifyByClients(t, p)
				// The held customers' linking rows wait: their anonymous
				// rows belong to nobody yet.
				exec(t, p, `CREATE TABLE held AS SELECT * FROM user_interactions WHERE shop_id = 'shop-0' AND customer_id = ANY($1)`, held)
				exec(t, p, `DELETE FROM user_interactions WHERE shop_id = 'shop-0' AND customer_id = ANY($1)`, held)
			}
			e := newEngine(t, pool, func(c *compute.Config) { c.Workers = workers })
			mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full})
			expected := testenv.ReadExpected(t, "expected_interaction_features.csv")
			for _, customerID := range held {
				if n, all := len(storedRowsOf(t, pool, customerID)), len(expectedOf(expected, []string{customerID})); n >= all {
					t.Fatalf("customer %s has %d of its %d pairs before its link arrives", customerID, n, all)
				}
			}
			for _, step := range []struct {
				name   string
				change string
				// golden says the table must then equal the expected file.
				golden bool
			}{
				{"late first links", `INSERT INTO user_interactions SELECT * FROM held`, true},
				{"an earlier link to another customer", `INSERT INTO user_interactions (id, shop_id, customer_id, client_id, event_type, created_at)
					VALUES ('relink', 'shop-0', '` + customer(1002) + `', 'client/` + customer(1001) + `', 'page_viewed', '2024-01-01')`, false},
				{"that link deleted", `DELETE FROM user_interactions WHERE id = 'relink'`, true},
			} {
				exec(t, pool, step.change)
				exec(t, reference, step.change)
				before := storedRows(t, pool, "shop-0")
				sum := mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Incremental})
				mustRun(t, newEngine(t, reference, nil), compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full})
				after, full := storedRows(t, pool, "shop-0"), storedRows(t, reference, "shop-0")
				if !equalVectors(after, full) {
					for key := range union(after, full) {
						if a, f := after[key], full[key]; a.Vector != f.Vector {
							t.Errorf("%s: pair %v differs from FULL's", step.name, key)
						}
					}
					t.Fatalf("%s: after the incremental run, the table differs from a FULL run's", step.name)
				}
				var deleted int64
				for key := range before {
					if _, ok := after[key]; !ok {
						deleted++
					}
				}
				if sum.Mode != compute.Incremental || sum.PairsDeleted != deleted || sum.PairsWritten == 0 {
					t.Errorf("%s: summary %+v, want an incremental run that wrote pairs and deleted %d", step.name, sum, deleted)
				}
				if step.golden {
					testenv.CompareRows(t, "shop-0", testenv.StoredRows(t, pool, "shop-0"), expected, june)
				}
				if n := pendingChanges(t, pool, "shop-0"); n != 0 {
					t.Errorf("%s: %d changes left after the incremental run", step.name, n)
				}
			}
		})
	}
}

// storedRowsOf returns the stored rows of one customer of shop-0.
func storedRowsOf(t *testing.T, pool *pgxpool.Pool, customerID string) []store.StoredRow {
	t.Helper()
	var out []store.StoredRow
	for _, r := range testenv.StoredRows(t, pool, "shop-0") {
		if r.CustomerID == customerID {
			out = append(out, r)
		}
	}
	return out
}
