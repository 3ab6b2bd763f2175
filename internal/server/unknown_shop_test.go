package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestUnknownShop asks every RPC about a shop that has no data at all, as
// a typo in shop_id does: the bulk calls say so, naming the shop, while a
// known shop whose answer happens to be empty stays an empty answer, and
// GetFeatures keeps answering per pair.
func TestUnknownShop(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t) // shop-0 and shop-1: events and orders, no stored rows yet
	st := store.New(pool)
	if _, err := st.SeedFeatureRows(context.Background(), "stored-only", 3, 4); err != nil {
		t.Fatal(err)
	}
	engine := newEngine(t, st, compute.DefaultConfig())
	client := serve(t, newService(t, server.Config{Computer: engine, Rows: engine, Exporter: st, Reader: st}))
	ctx := context.Background()
	asOf := timestamppb.New(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))

	for _, tc := range []struct {
		name string
		req  *featurestorev1.StreamFeaturesRequest
		code codes.Code // OK: an empty stream
	}{
		{"stored rows of an unknown shop", &featurestorev1.StreamFeaturesRequest{ShopId: "shop-typo"}, codes.NotFound},
		{"stored rows of an unknown shop, filtered", &featurestorev1.StreamFeaturesRequest{ShopId: "shop-typo", CustomerIds: []string{"c"}}, codes.NotFound},
		{"computed rows of an unknown shop", &featurestorev1.StreamFeaturesRequest{ShopId: "shop-typo", Compute: true, AsOf: asOf}, codes.NotFound},
		{"stored rows of a shop with events but no run yet", &featurestorev1.StreamFeaturesRequest{ShopId: "shop-0"}, codes.OK},
		{"stored rows of a known shop, no customer matching", &featurestorev1.StreamFeaturesRequest{ShopId: "stored-only", CustomerIds: []string{"nobody"}}, codes.OK},
		{"computed rows of a shop with stored rows only", &featurestorev1.StreamFeaturesRequest{ShopId: "stored-only", Compute: true, AsOf: asOf}, codes.OK},
		{"computed rows of a known shop before its first event", &featurestorev1.StreamFeaturesRequest{ShopId: "shop-0", Compute: true,
			AsOf: timestamppb.New(time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC))}, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := testenv.StreamAll(ctx, client, tc.req)
			if status.Code(err) != tc.code || len(msgs) != 0 {
				t.Fatalf("StreamFeatures: %d messages, %v; want no message and %s", len(msgs), err, tc.code)
			}
			if tc.code == codes.NotFound && !strings.Contains(status.Convert(err).Message(), `"shop-typo"`) {
				t.Errorf("the answer %q does not name the shop", status.Convert(err).Message())
			}
		})
	}

	t.Run("ComputeFeatures", func(t *testing.T) {
		for _, mode := range []featurestorev1.ComputeMode{featurestorev1.ComputeMode_COMPUTE_MODE_FULL, featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL} {
			_, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-typo", Mode: mode})
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), `no interactions or orders for shop "shop-typo"`) {
				t.Errorf("%s run of an unknown shop: %v; want FAILED_PRECONDITION saying there are no interactions or orders for it", mode, err)
			}
		}
		var runs int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM feature_runs WHERE shop_id = 'shop-typo'`).Scan(&runs); err != nil {
			t.Fatal(err)
		}
		if runs != 0 {
			t.Errorf("the refused runs recorded %d runs of the unknown shop; the scheduled refresh would then run it for ever", runs)
		}
	})

	t.Run("GetFeatures", func(t *testing.T) {
		resp, err := client.GetFeatures(ctx, &featurestorev1.GetFeaturesRequest{ShopId: "shop-typo", CustomerId: "c", ProductIds: []string{"p", "q"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.GetResults() {
			if r.GetStatus() != featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND {
				t.Errorf("result %v, want FEATURE_STATUS_NOT_FOUND", r)
			}
		}
		if len(resp.GetResults()) != 2 {
			t.Errorf("%d results, want 2", len(resp.GetResults()))
		}
	})
}
