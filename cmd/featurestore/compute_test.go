package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestComputeCommandWritesThrough caches a customer's vectors through a
// server, changes the customer's events and runs an INCREMENTAL compute
// from the command line with the server's REDIS_URL: the server's next
// GetFeatures answers what the run wrote, not what Redis held.
func TestComputeCommandWritesThrough(t *testing.T) {
	pool, url := testenv.Postgres(t)
	testenv.LoadGolden(t, pool)
	// Both commands take the cache from the environment, as a deployment
	// that sets REDIS_URL once would.
	t.Setenv("REDIS_URL", testenv.Redis(t))
	const (
		shop     = "shop-0"
		customer = "gid://shopify/Customer/1000"
		product  = "gid://shopify/Product/9015"
	)
	compute := func(args ...string) {
		t.Helper()
		args = append([]string{"--database-url", url, "--shop", shop, "--log-level", "error"}, args...)
		if err := runCompute(context.Background(), args); err != nil {
			t.Fatalf("compute %v: %v", args, err)
		}
	}
	compute("--as-of", "2025-03-01T00:00:00Z")

	ctx, stop := context.WithCancel(context.Background())
	addr := freeAddr(t)
	served := make(chan error, 1)
	go func() {
		served <- runServe(ctx, []string{"--database-url", url, "--addr", addr, "--metrics-addr", "", "--migrate=false", "--log-level", "error", "--auth", "none"})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	conn := testenv.DialGRPC(t, addr)
	waitServing(t, healthpb.NewHealthClient(conn))
	client := featurestorev1.NewFeatureStoreServiceClient(conn)
	get := func() *featurestorev1.FeatureRecord {
		t.Helper()
		resp, err := client.GetFeatures(context.Background(), &featurestorev1.GetFeaturesRequest{ShopId: shop, CustomerId: customer, ProductIds: []string{product}})
		if err != nil {
			t.Fatalf("GetFeatures: %v", err)
		}
		return resp.GetResults()[0].GetRecord()
	}
	before := get()
	if again := get(); again.GetFeatures().GetTotalViews() != before.GetFeatures().GetTotalViews() {
		t.Fatalf("the cached read differs from the first: %v, %v", again, before)
	}

	if _, err := pool.Exec(context.Background(), `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
		VALUES ('cli-late-1', $1, $2, $3, 'product_viewed', '2025-04-01 10:00:00')`, shop, customer, product); err != nil {
		t.Fatal(err)
	}
	june := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	compute("--as-of", june.Format(time.RFC3339), "--mode", "incremental")

	after := get()
	var stored *store.StoredRow
	for _, r := range testenv.StoredRows(t, pool, shop) {
		if r.CustomerID == customer && r.ProductID == product {
			stored = &r
		}
	}
	if stored == nil || !stored.AsOf.Equal(june) {
		t.Fatalf("the run did not store the pair as of %s: %+v", june, stored)
	}
	if got, want := int64(after.GetFeatures().GetTotalViews()), stored.Vector.TotalViews; got != want ||
		!after.GetAsOf().AsTime().Equal(june) || !after.GetComputedAt().AsTime().Equal(stored.ComputedAt) {
		t.Errorf("after the command's run GetFeatures answers total_views %d as of %s computed at %s; the table holds %d as of %s computed at %s",
			got, after.GetAsOf().AsTime().Format(time.RFC3339), after.GetComputedAt().AsTime().Format(time.RFC3339Nano),
			want, june.Format(time.RFC3339), stored.ComputedAt.Format(time.RFC3339Nano))
	}
}

// waitServing waits until a server's health check says SERVING.
func waitServing(t *testing.T, health healthpb.HealthClient) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not serving after 60 s: %v, %v", resp.GetStatus(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestComputeCommandPastAsOf runs `featurestore compute` at 2025-06-01,
// then at 1970-01-02: refused, naming both instants and the flag that
// allows it, with the table unchanged; then allowed with
// --allow-past-as-of.
func TestComputeCommandPastAsOf(t *testing.T) {
	t.Parallel()
	pool, url := testenv.GoldenPostgres(t)
	compute := func(args ...string) error {
		return run(context.Background(), append([]string{"compute", "--database-url", url, "--shop", "shop-0", "--log-level", "error"}, args...))
	}
	if err := compute("--as-of", "2025-06-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	stored := len(testenv.StoredRows(t, pool, "shop-0"))

	err := compute("--as-of", "1970-01-02T00:00:00Z")
	if err == nil || !strings.Contains(err.Error(), "1970-01-02T00:00:00Z") || !strings.Contains(err.Error(), "2025-06-01T00:00:00Z") ||
		!strings.Contains(err.Error(), "--allow-past-as-of") {
		t.Errorf("compute at 1970-01-02 after 2025-06-01: %v; want a refusal naming both instants and --allow-past-as-of", err)
	}
	if n := len(testenv.StoredRows(t, pool, "shop-0")); n != stored {
		t.Fatalf("the refused run left %d rows of %d", n, stored)
	}

	if err := compute("--as-of", "1970-01-02T00:00:00Z", "--allow-past-as-of"); err != nil {
		t.Fatalf("compute --allow-past-as-of: %v", err)
	}
	if n := len(testenv.StoredRows(t, pool, "shop-0")); n != 0 {
		t.Errorf("the run at 1970-01-02 left %d rows; nothing had happened yet", n)
	}
}
