package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// serveReplicas starts n servers in this process on one database and one
// Redis, as n replicas of a deployment, with extra flags, and returns a
// client of each once it serves.
func serveReplicas(t *testing.T, n int, url, redisURL string, extra ...string) []featurestorev1.FeatureStoreServiceClient {
	t.Helper()
	clients := make([]featurestorev1.FeatureStoreServiceClient, n)
	for i := range clients {
		addr := freeAddr(t)
		args := append([]string{"--database-url", url, "--redis-url", redisURL, "--addr", addr, "--metrics-addr=",
			"--auth", "none", "--log-level", "error"}, extra...)
		conn := testenv.DialGRPC(t, addr)
		health := healthpb.NewHealthClient(conn)
		serveInProcess(t, args, func() error {
			resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
			if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				err = fmt.Errorf("health is %s", resp.GetStatus())
			}
			return err
		})
		clients[i] = featurestorev1.NewFeatureStoreServiceClient(conn)
	}
	return clients
}

// TestReplicasAgree serves one database and one Redis from two servers:
// both answer the same, and a compute run on one is what the other
// answers next, although it had the older vectors cached.
func TestReplicasAgree(t *testing.T) {
	t.Parallel()
	pool, url := testenv.GoldenPostgres(t)
	replicas := serveReplicas(t, 2, url, testenv.Redis(t), "--migrate=false")
	const shop = "shop-0"
	ctx := context.Background()
	compute := func(client featurestorev1.FeatureStoreServiceClient, asOf time.Time) {
		t.Helper()
		stream, err := client.ComputeFeatures(ctx, &featurestorev1.ComputeFeaturesRequest{ShopId: shop, AsOf: timestamppb.New(asOf)})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := stream.Recv(); errors.Is(err, io.EOF) {
				return
			} else if err != nil {
				t.Fatalf("ComputeFeatures: %v", err)
			}
		}
	}
	compute(replicas[0], time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))

	var customer string
	var products []string
	rows := testenv.StoredRows(t, pool, shop)
	for _, r := range rows {
		if customer == "" || r.CustomerID == customer {
			customer = r.CustomerID
			products = append(products, r.ProductID)
		}
	}
	products = append(products, "gid://shopify/Product/never-seen")
	req := &featurestorev1.GetFeaturesRequest{ShopId: shop, CustomerId: customer, ProductIds: products}
	// answers reads req from every replica, each twice (a fill, then a
	// read of the cache), and fails unless all agree.
	answers := func(when string) *featurestorev1.GetFeaturesResponse {
		t.Helper()
		var first *featurestorev1.GetFeaturesResponse
		for round := range 2 {
			for i, client := range replicas {
				resp, err := client.GetFeatures(ctx, req)
				if err != nil {
					t.Fatalf("%s: replica %d: GetFeatures: %v", when, i, err)
				}
				if first == nil {
					first = resp
				} else if !proto.Equal(resp, first) {
					t.Fatalf("%s: replica %d answers (read %d)\n%v\nreplica 0 answered\n%v", when, i, round+1, resp, first)
				}
			}
		}
		return first
	}
	before := answers("after the first run")

	if _, err := pool.Exec(ctx, `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
		VALUES ('replicas-late-1', $1, $2, $3, 'product_viewed', '2025-04-01 10:00:00')`, shop, customer, products[0]); err != nil {
		t.Fatal(err)
	}
	compute(replicas[1], time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	after := answers("after a run on the other replica")
	views := func(r *featurestorev1.GetFeaturesResponse) int32 {
		return r.GetResults()[0].GetRecord().GetFeatures().GetTotalViews()
	}
	var stored int32 = -1
	for _, r := range testenv.StoredRows(t, pool, shop) {
		if r.CustomerID == customer && r.ProductID == products[0] {
			stored = int32(r.Vector.TotalViews)
		}
	}
	if views(after) != stored || stored == views(before) {
		t.Errorf("after a run on replica 1 the replicas answer %d views, the table holds %d, and they answered %d before it", views(after), stored, views(before))
	}
	if r := after.GetResults()[len(products)-1]; r.GetStatus() != featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND {
		t.Errorf("a product without a row is answered %v", r)
	}
}

// TestReplicasRefreshEachShopOnce runs the scheduled refresh on three
// servers sharing one database: every shop is computed, each once, and a
// change later is computed once too.
func TestReplicasRefreshEachShopOnce(t *testing.T) {
	t.Parallel()
	pool, url := testenv.GoldenPostgres(t)
	ctx := context.Background()
	event := func(shop, id string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
			VALUES ($1, $2, 'c1', 'p1', 'product_viewed', now() - interval '1 hour')`, id, shop); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"shop-0 full": 1, "shop-1 full": 1}
	for i := range 8 {
		shop := fmt.Sprintf("refreshed-%d", i)
		event(shop, shop+"/1")
		want[shop+" full"] = 1
	}
	serveReplicas(t, 3, url, testenv.Redis(t), "--refresh-interval", "20ms")
	runs := func() map[string]int {
		rows, err := pool.Query(ctx, `SELECT shop_id || ' ' || mode, count(*)::int FROM feature_runs WHERE status = 'succeeded' GROUP BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for rows.Next() {
			var key string
			var n int
			if err := rows.Scan(&key, &n); err != nil {
				t.Fatal(err)
			}
			got[key] = n
		}
		return got
	}
	testenv.WaitFor(t, 3*time.Minute, "every shop has a run", func() bool { return len(runs()) == len(want) })
	// A change made now is computed by the passes that follow: once it is,
	// every server has had time to run any shop a second time.
	event("refreshed-3", "refreshed-3/2")
	want["refreshed-3 incremental"] = 1
	testenv.WaitFor(t, 3*time.Minute, "the change is computed", func() bool { return len(runs()) == len(want) })
	if got := runs(); !maps.Equal(got, want) {
		t.Errorf("runs by shop and mode: %v, want %v", got, want)
	}
	var abnormal int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM feature_runs WHERE status <> 'succeeded'`).Scan(&abnormal); err != nil {
		t.Fatal(err)
	}
	if abnormal > 0 {
		t.Errorf("%d runs did not succeed", abnormal)
	}
}

// TestServeReadsTheReplica serves with --database-read-url while the
// replica's replay is paused and the primary changes: within
// --max-replica-lag, GetFeatures without a cache and StreamFeatures answer
// what the replica holds, and the change once the replica has replayed it.
func TestServeReadsTheReplica(t *testing.T) {
	primary, url, rep, repURL := testenv.ReplicaPostgres(t)
	t.Cleanup(func() { testenv.SetReplay(t, rep, false) })
	ctx := context.Background()
	const shop = "replica-served"
	if _, err := store.New(primary).SeedFeatureRows(ctx, shop, 2, 3); err != nil {
		t.Fatal(err)
	}
	var customer, product string
	if err := primary.QueryRow(ctx, `SELECT customer_id, product_id FROM interaction_features WHERE shop_id = $1
		ORDER BY customer_id, product_id LIMIT 1`, shop).Scan(&customer, &product); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 2*time.Minute, "the replica has the seeded rows", func() bool {
		var n int
		if err := rep.QueryRow(ctx, `SELECT count(*) FROM interaction_features WHERE shop_id = $1`, shop).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 6
	})
	addr := freeAddr(t)
	conn := testenv.DialGRPC(t, addr)
	health := healthpb.NewHealthClient(conn)
	serveInProcess(t, []string{"--database-url", url, "--database-read-url", repURL, "--max-replica-lag", "1h", "--addr", addr,
		"--metrics-addr=", "--auth", "none", "--log-level", "error", "--migrate=false",
		// No cache, whatever REDIS_URL the environment holds: GetFeatures
		// reads Postgres, and the update below goes around the cache.
		"--redis-url="}, func() error {
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	})
	client := featurestorev1.NewFeatureStoreServiceClient(conn)
	views := func() (online, streamed int32) {
		t.Helper()
		resp, err := client.GetFeatures(ctx, &featurestorev1.GetFeaturesRequest{ShopId: shop, CustomerId: customer, ProductIds: []string{product}})
		if err != nil {
			t.Fatalf("GetFeatures: %v", err)
		}
		online = resp.GetResults()[0].GetRecord().GetFeatures().GetTotalViews()
		msgs, err := testenv.StreamAll(ctx, client, &featurestorev1.StreamFeaturesRequest{ShopId: shop})
		if err != nil {
			t.Fatalf("StreamFeatures: %v", err)
		}
		for _, msg := range msgs {
			for _, r := range msg.GetRecords() {
				if r.GetCustomerId() == customer && r.GetProductId() == product {
					streamed = r.GetFeatures().GetTotalViews()
				}
			}
		}
		return online, streamed
	}
	// The server reads the replica once its monitor has measured it.
	old, _ := views()
	testenv.SetReplay(t, rep, true)
	if _, err := primary.Exec(ctx, `UPDATE interaction_features SET total_views = total_views + 1000
		WHERE shop_id = $1 AND customer_id = $2 AND product_id = $3`, shop, customer, product); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 2*time.Minute, "the server reads the paused replica", func() bool {
		online, streamed := views()
		return online == old && streamed == old
	})
	testenv.SetReplay(t, rep, false)
	testenv.WaitFor(t, 2*time.Minute, "the server reads the change once the replica has replayed it", func() bool {
		online, streamed := views()
		return online == old+1000 && streamed == old+1000
	})
}
