package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestExportRows compares ExportRows with an independent read of the table
// for every combination of start key and filter.
func TestExportRows(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	for _, shop := range []struct {
		id                     string
		customers, perCustomer int
	}{{"shop-a", 40, 9}, {"shop-b", 5, 3}} {
		if _, err := store.New(pool).SeedFeatureRows(ctx, shop.id, shop.customers, shop.perCustomer); err != nil {
			t.Fatal(err)
		}
	}
	// A customer id that needs quoting in a literal and sorts before all.
	if _, err := pool.Exec(ctx, `INSERT INTO interaction_features (shop_id, customer_id, product_id, total_views, unique_views,
		view_frequency, engagement_score, cart_adds, cart_removes, purchases, cart_conversion_rate, view_to_purchase_rate,
		search_views, category_views, collection_views, direct_views, referral_views, mobile_views, desktop_views, tablet_views,
		interaction_quality_score, intent_score, loyalty_indicator, recommendation_score, purchase_quantity, purchase_value,
		as_of, features_version, last_computed_at)
		SELECT shop_id, 'O''Brien \ "x"', product_id, total_views, unique_views, view_frequency, engagement_score, cart_adds,
		cart_removes, purchases, cart_conversion_rate, view_to_purchase_rate, search_views, category_views, collection_views,
		direct_views, referral_views, mobile_views, desktop_views, tablet_views, interaction_quality_score, intent_score,
		loyalty_indicator, recommendation_score, purchase_quantity, purchase_value, as_of, features_version, last_computed_at
		FROM interaction_features WHERE shop_id = 'shop-a' AND customer_id = 'gid://shopify/Customer/7'`); err != nil {
		t.Fatal(err)
	}
	all := testenv.StoredRows(t, pool, "shop-a")
	if len(all) != 40*9+9 {
		t.Fatalf("shop-a has %d rows, want %d", len(all), 40*9+9)
	}
	since := time.Date(2025, 6, 1, 0, 0, 20, 0, time.UTC)
	quoted := all[0].CustomerID
	picked := []string{quoted, "gid://shopify/Customer/12", "gid://shopify/Customer/3", "no-such-customer"}
	keyOf := func(r store.StoredRow) *store.PairKey {
		return &store.PairKey{CustomerID: r.CustomerID, ProductID: r.ProductID}
	}
	for _, tc := range []struct {
		name string
		req  store.ExportRequest
		keep func(i int, r store.StoredRow) bool
	}{
		{"whole shop", store.ExportRequest{}, func(int, store.StoredRow) bool { return true }},
		{"after the first row", store.ExportRequest{After: keyOf(all[0])}, func(i int, _ store.StoredRow) bool { return i > 0 }},
		{"after a middle row", store.ExportRequest{After: keyOf(all[200])}, func(i int, _ store.StoredRow) bool { return i > 200 }},
		{"after a pair the table lacks", store.ExportRequest{After: &store.PairKey{CustomerID: all[100].CustomerID, ProductID: all[100].ProductID + " "}},
			func(i int, _ store.StoredRow) bool { return i > 100 }},
		{"after a customer prefix", store.ExportRequest{After: &store.PairKey{CustomerID: "gid://shopify/Customer/2"}},
			func(_ int, r store.StoredRow) bool { return r.CustomerID >= "gid://shopify/Customer/2" }},
		{"after the last row", store.ExportRequest{After: keyOf(all[len(all)-1])}, func(int, store.StoredRow) bool { return false }},
		{"updated since", store.ExportRequest{UpdatedSince: since},
			func(_ int, r store.StoredRow) bool { return !r.ComputedAt.Before(since) }},
		{"customers", store.ExportRequest{CustomerIDs: picked},
			func(_ int, r store.StoredRow) bool { return slices.Contains(picked, r.CustomerID) }},
		{"customers updated since, after a row", store.ExportRequest{CustomerIDs: picked, UpdatedSince: since, After: keyOf(all[0])},
			func(i int, r store.StoredRow) bool {
				return i > 0 && slices.Contains(picked, r.CustomerID) && !r.ComputedAt.Before(since)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var want []store.StoredRow
			for i, r := range all {
				if tc.keep(i, r) {
					want = append(want, r)
				}
			}
			req := tc.req
			req.ShopID = "shop-a"
			x := store.New(pool)
			var got []store.StoredRow
			if err := x.ExportRows(ctx, req, func(r *store.StoredRow) error {
				got = append(got, *r)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d rows, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestExportRowsStopsOnCallbackError checks that an error from fn comes
// back as is, after fn saw no further row, and that the pool stays usable.
func TestExportRowsStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := store.New(pool).SeedFeatureRows(ctx, "shop", 200, 10); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	err := store.New(pool).ExportRows(ctx, store.ExportRequest{ShopID: "shop"}, func(*store.StoredRow) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Fatalf("ExportRows = %v after %d calls, want the callback's error after 3", err, calls)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM interaction_features`).Scan(&n); err != nil || n != 2000 {
		t.Fatalf("pool after a stopped export: %d, %v", n, err)
	}
}
