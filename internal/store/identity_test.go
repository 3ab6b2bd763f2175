package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// identityFixture is a shop of anonymous clients, written before each case
// (created_at in minutes after 2025-01-01): client k1 is linked to c2 by a
// page view at minute 10, after some of its anonymous rows; k2 to c1 by a
// view of p1; k3 is never identified; k4 is identified after minute 50. c2
// also has a row of its own, without a client, at the same instant as one
// of k1's.
const identityFixture = `
INSERT INTO user_interactions (id, shop_id, customer_id, client_id, product_id, event_type, created_at) VALUES
    ('$shop/a1', '$shop', NULL, 'k1', 'p1', 'view', '2025-01-01 00:00'),
    ('$shop/b0', '$shop', 'c2', NULL, 'p1', 'view', '2025-01-01 00:00'),
    ('$shop/a3', '$shop', '', 'k1', 'p2', 'view', '2025-01-01 00:05'),
    ('$shop/l1', '$shop', 'c2', 'k1', NULL, 'page_viewed', '2025-01-01 00:10'),
    ('$shop/a2', '$shop', NULL, 'k1', 'p1', 'view', '2025-01-01 00:20'),
    ('$shop/l2', '$shop', 'c1', 'k2', 'p1', 'view', '2025-01-01 00:01'),
    ('$shop/a4', '$shop', NULL, 'k2', 'p1', 'view', '2025-01-01 00:02'),
    ('$shop/a5', '$shop', NULL, 'k3', 'p1', 'view', '2025-01-01 00:03'),
    ('$shop/a6', '$shop', NULL, 'k4', 'p3', 'view', '2025-01-01 00:04'),
    ('$shop/l4', '$shop', 'c3', 'k4', NULL, 'page_viewed', '2025-01-01 01:40');`

// TestScanResolvesClients reads the fixture through every scope a scan
// has: each pair holds its customer's own rows and those of its linked
// clients, in (created_at, id) order, and scopes apply to the resolved
// customer.
func TestScanResolvesClients(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	exec(t, pool, "s", identityFixture)
	st := store.New(pool)
	asOf := time.Date(2025, 1, 1, 0, 50, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		req  store.ScanRequest
		want []string // "customer/product: ids"
	}{
		{"whole shop", store.ScanRequest{}, []string{"c1/p1: l2 a4", "c2/p1: a1 b0 a2", "c2/p2: a3"}},
		{"a range of customers", store.ScanRequest{Customers: store.CustomerRange{From: "c2"}}, []string{"c2/p1: a1 b0 a2", "c2/p2: a3"}},
		{"a range that ends before c2", store.ScanRequest{Customers: store.CustomerRange{To: "c2"}}, []string{"c1/p1: l2 a4"}},
		{"some customers", store.ScanRequest{CustomerIDs: []string{"c2", "c3"}}, []string{"c2/p1: a1 b0 a2", "c2/p2: a3"}},
		{"a list of pairs", store.ScanRequest{Pairs: []store.PairKey{{CustomerID: "c2", ProductID: "p2"}, {CustomerID: "c3", ProductID: "p3"}}},
			[]string{"c2/p2: a3"}},
		{"pairs and customers", store.ScanRequest{CustomerIDs: []string{"c1"}, Pairs: []store.PairKey{{CustomerID: "c1", ProductID: "p1"}, {CustomerID: "c2", ProductID: "p2"}}},
			[]string{"c1/p1: l2 a4"}},
		{"after a pair", store.ScanRequest{After: &store.PairKey{CustomerID: "c2", ProductID: "p1"}}, []string{"c2/p2: a3"}},
		{"before any link", store.ScanRequest{AsOf: time.Date(2025, 1, 1, 0, 0, 30, 0, time.UTC)}, []string{"c2/p1: b0"}},
		{"after every link", store.ScanRequest{AsOf: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)},
			[]string{"c1/p1: l2 a4", "c2/p1: a1 b0 a2", "c2/p2: a3", "c3/p3: a6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.ShopID = "s"
			if req.AsOf.IsZero() {
				req.AsOf = asOf
			}
			if got := scannedEvents(t, st, req); !slices.Equal(got, tc.want) {
				t.Errorf("pairs:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestChangeLogNamesClientChanges writes the rows identity resolution
// reads the ways a pixel or a sync might, and checks that the log, resolved
// by a run, names every pair whose inputs moved: a client's rows under each
// customer its link names now or named before.
func TestChangeLogNamesClientChanges(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	insert := `INSERT INTO user_interactions (id, shop_id, customer_id, client_id, product_id, event_type, created_at) VALUES `
	for i, tc := range []struct {
		name  string
		write string
		want  []string
	}{
		{"anonymous row of a linked client", insert + `('$shop/n', '$shop', NULL, 'k1', 'p4', 'view', '2025-01-02')`, []string{"c2/p4"}},
		{"anonymous row of a client never linked", insert + `('$shop/n', '$shop', NULL, 'k3', 'p4', 'view', '2025-01-02')`, nil},
		{"anonymous row without a product", insert + `('$shop/n', '$shop', NULL, 'k1', NULL, 'page_viewed', '2025-01-02')`, nil},
		{"first linking row of a client", insert + `('$shop/n', '$shop', 'c5', 'k3', NULL, 'page_viewed', '2025-01-02')`, []string{"c5/p1"}},
		{"later linking row naming another customer", insert + `('$shop/n', '$shop', 'c5', 'k1', NULL, 'page_viewed', '2025-01-02')`, nil},
		{"later linking row with a product", insert + `('$shop/n', '$shop', 'c5', 'k1', 'p9', 'view', '2025-01-02')`, []string{"c5/p9"}},
		{"earlier linking row naming another customer", insert + `('$shop/n', '$shop', 'c5', 'k1', NULL, 'page_viewed', '2024-12-31')`,
			[]string{"c2/p1", "c2/p2", "c2/p9", "c5/p1", "c5/p2"}},
		{"linking row at the same instant, sorting first", insert + `('$shop/k', '$shop', 'c5', 'k1', NULL, 'page_viewed', '2025-01-01 00:10')`,
			[]string{"c2/p1", "c2/p2", "c2/p9", "c5/p1", "c5/p2"}},
		{"linking row at the same instant, sorting after", insert + `('$shop/m', '$shop', 'c5', 'k1', NULL, 'page_viewed', '2025-01-01 00:10')`, nil},
		{"link deleted", `DELETE FROM user_interactions WHERE id = '$shop/l1'`, []string{"c2/p1", "c2/p2", "c2/p9"}},
		{"link moved later, behind another", `
			INSERT INTO user_interactions (id, shop_id, customer_id, client_id, event_type, created_at) VALUES ('$shop/n', '$shop', 'c5', 'k1', 'page_viewed', '2025-01-01 00:30');
			DELETE FROM feature_changes;
			UPDATE user_interactions SET created_at = '2025-01-02' WHERE id = '$shop/l1'`,
			[]string{"c2/p1", "c2/p2", "c2/p9", "c5/p1", "c5/p2"}},
		{"anonymous row deleted", `DELETE FROM user_interactions WHERE id = '$shop/a3'`, []string{"c2/p2"}},
		{"anonymous row identified by a backfill", `UPDATE user_interactions SET customer_id = 'c5' WHERE id = '$shop/a5'`, []string{"c5/p1"}},
		{"anonymous row moved to another client", `UPDATE user_interactions SET client_id = 'k2' WHERE id = '$shop/a5'`, []string{"c1/p1"}},
		{"metadata written", `UPDATE user_interactions SET metadata = '{"query": "hat"}'`, nil},
		{"bulk write names whole clients", `SET featurestore.bulk_events = 1;
			` + insert + `('$shop/n1', '$shop', NULL, 'k1', 'p7', 'view', '2025-01-02'), ('$shop/n2', '$shop', NULL, 'k2', 'p8', 'view', '2025-01-02');
			RESET featurestore.bulk_events`, []string{"c1/p1", "c1/p8", "c2/p1", "c2/p2", "c2/p7", "c2/p9"}},
		// The pairs of the deleted rows are found through the rows stored
		// for them.
		{"bulk delete of anonymous rows", `SET featurestore.bulk_events = 0;
			DELETE FROM user_interactions WHERE id IN ('$shop/a1', '$shop/a2');
			RESET featurestore.bulk_events`, []string{"c2/p1", "c2/p2", "c2/p9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shop := fmt.Sprintf("shop-%d", i)
			exec(t, pool, shop, identityFixture)
			storeRow(t, pool, shop, "c2", "p1")
			storeRow(t, pool, shop, "c2", "p9") // a pair whose inputs are gone, as far as the log knows
			exec(t, pool, shop, `DELETE FROM feature_changes`)
			exec(t, pool, shop, tc.write)
			checkClaimed(t, pool, shop, tc.want)
		})
	}
}

// TestSubsetRunLogsClientChangesAgain checks that a run of some customers,
// which cannot know which customers a client change concerns, leaves it for
// the next run whole.
func TestSubsetRunLogsClientChangesAgain(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	exec(t, pool, "s", identityFixture)
	exec(t, pool, "s", `DELETE FROM feature_changes`)
	exec(t, pool, "s", `INSERT INTO user_interactions (id, shop_id, client_id, product_id, event_type, created_at)
		VALUES ('s/n1', 's', 'k1', 'p7', 'view', '2025-01-02'), ('s/n2', 's', 'k2', 'p8', 'view', '2025-01-02')`)
	run := beginRun(t, pool, "s", "c1")
	keys, err := run.ChangedPairs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Finish(store.RunTotals{}, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(keys), "[{c1 p8}]"; got != want {
		t.Errorf("the run of c1 resolved %s, want %s", got, want)
	}
	if got, want := changedPairs(t, pool, "s", false), []string{"c1/p8", "c2/p7"}; !slices.Equal(got, want) {
		t.Errorf("after the run of c1, changed pairs = %q, want %q", got, want)
	}
}

// storeRow writes a stored row of pair (customer, product) of shop, every
// feature zero or NULL.
func storeRow(t *testing.T, pool *pgxpool.Pool, shop, customer, product string) {
	t.Helper()
	names, values := []string{"shop_id", "customer_id", "product_id"}, []string{"$1", "$2", "$3"}
	for _, d := range features.Catalog() {
		names = append(names, d.Name)
		if d.Nullable {
			values = append(values, "NULL")
		} else {
			values = append(values, "0")
		}
	}
	names = append(names, "as_of", "features_version", "last_computed_at")
	values = append(values, "now()", "1", "now()")
	if _, err := pool.Exec(context.Background(), `INSERT INTO interaction_features (`+strings.Join(names, ", ")+`) VALUES (`+
		strings.Join(values, ", ")+`)`, shop, customer, product); err != nil {
		t.Fatal(err)
	}
}

// TestListScansCountAClientUnderItsLinkOnly gives client k1, linked to c2,
// a later linking row naming c1: a scan of a list that holds both
// customers finds k1 under each, and must read its anonymous rows under
// its link alone, as a scan of the whole shop does, and once however often
// or in whatever order the list names the customer.
func TestListScansCountAClientUnderItsLinkOnly(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	exec(t, pool, "s", identityFixture+`
INSERT INTO user_interactions (id, shop_id, customer_id, client_id, product_id, event_type, created_at) VALUES
    ('$shop/l5', '$shop', 'c1', 'k1', 'p1', 'view', '2025-01-01 00:30');`)
	st := store.New(pool)
	asOf := time.Date(2025, 1, 1, 0, 50, 0, 0, time.UTC)
	whole := []string{"c1/p1: l2 a4 l5", "c2/p1: a1 b0 a2", "c2/p2: a3"}
	for _, tc := range []struct {
		name string
		req  store.ScanRequest
		want []string
	}{
		{"whole shop", store.ScanRequest{}, whole},
		{"both customers", store.ScanRequest{CustomerIDs: []string{"c1", "c2"}}, whole},
		{"a pair of each", store.ScanRequest{Pairs: []store.PairKey{{CustomerID: "c1", ProductID: "p1"}, {CustomerID: "c2", ProductID: "p1"}}}, whole[:2]},
		{"the later link's pair alone", store.ScanRequest{Pairs: []store.PairKey{{CustomerID: "c1", ProductID: "p1"}}}, whole[:1]},
		{"a customer listed twice", store.ScanRequest{CustomerIDs: []string{"c2", "c1", "c2"}}, whole},
		{"pairs out of order", store.ScanRequest{Pairs: []store.PairKey{{CustomerID: "c2", ProductID: "p2"}, {CustomerID: "c1", ProductID: "p1"}, {CustomerID: "c2", ProductID: "p1"}}}, whole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.ShopID, req.AsOf = "s", asOf
			if got := scannedEvents(t, st, req); !slices.Equal(got, tc.want) {
				t.Errorf("pairs:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// scannedEvents scans req and returns each pair it yields as
// "customer/product: " and the ids of its events (without the shop's
// prefix), in the scan's order.
func scannedEvents(t *testing.T, st *store.Store, req store.ScanRequest) []string {
	t.Helper()
	var got []string
	err := st.ScanPairs(context.Background(), req, func(p *store.Pair) error {
		var ids []string
		for _, e := range p.Events {
			ids = append(ids, strings.TrimPrefix(e.ID, "s/"))
		}
		got = append(got, p.CustomerID+"/"+p.ProductID+": "+strings.Join(ids, " "))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
