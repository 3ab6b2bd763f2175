package server_test

import (
	"context"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

const (
	cust1000 = "gid://shopify/Customer/1000"
	cust1003 = "gid://shopify/Customer/1003"
)

func product(n int) string { return "gid://shopify/Product/" + strconv.Itoa(n) }

// queryCounter counts the queries a pool sends.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// online is a server over the golden data set, computed at goldenAsOf, with
// a query-counting pool and, when redisURL is not empty, a Redis cache.
type online struct {
	client  featurestorev1.FeatureStoreServiceClient
	pool    *pgxpool.Pool
	queries *queryCounter
	cache   *cache.Cache
}

var goldenAsOf = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func startOnline(t testing.TB, redisURL string, tune func(*cache.Config)) *online {
	t.Helper()
	ctx := context.Background()
	_, url := testenv.GoldenPostgres(t)
	o := &online{queries: &queryCounter{}}
	var err error
	if o.pool, err = store.Open(ctx, url, store.WithTracer(o.queries)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.pool.Close)
	if redisURL != "" {
		cfg := cache.DefaultConfig(redisURL)
		cfg.Mode = cache.Mode(testenv.RedisModeOf(redisURL))
		// Production's 50 ms per round trip is too little on a busy
		// machine, where a read would then go to Postgres and the test's
		// query count would be off; tests that time Redis tune their own.
		cfg.Timeout = 10 * time.Second
		// The poll of the record of hashes to repair would count among the
		// reads' queries; these tests record no failure to poll for.
		cfg.PollInterval = time.Hour
		if tune != nil {
			tune(&cfg)
		}
		if o.cache, err = cache.New(ctx, store.New(o.pool), cfg, testenv.Logger()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.cache.Close() })
	}
	o.client = startServer(t, o.pool, func(c *compute.Config) {
		if o.cache != nil {
			c.Sink = o.cache
		}
	})
	for _, shop := range []string{"shop-0", "shop-1"} {
		if _, err := computeAll(ctx, t, o.client, &featurestorev1.ComputeFeaturesRequest{ShopId: shop, AsOf: timestamppb.New(goldenAsOf)}); err != nil {
			t.Fatalf("compute %s: %v", shop, err)
		}
	}
	return o
}

// get calls GetFeatures for one customer and returns the results and the
// number of Postgres queries the call cost.
func (o *online) get(t testing.TB, shop, customer string, products ...string) ([]*featurestorev1.FeatureResult, int64) {
	t.Helper()
	before := o.queries.n.Load()
	resp, err := o.client.GetFeatures(context.Background(), &featurestorev1.GetFeaturesRequest{ShopId: shop, CustomerId: customer, ProductIds: products})
	if err != nil {
		t.Fatalf("GetFeatures(%s, %s): %v", shop, customer, err)
	}
	return resp.GetResults(), o.queries.n.Load() - before
}

// checkGolden compares a FOUND result with the expected golden row.
func checkGolden(t *testing.T, expected map[[3]string]testenv.ExpectedRow, shop string, r *featurestorev1.FeatureResult) {
	t.Helper()
	rec := r.GetRecord()
	want, ok := expected[[3]string{shop, rec.GetCustomerId(), rec.GetProductId()}]
	if r.GetStatus() != featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND || !ok {
		t.Errorf("%s %s/%s: status %s, golden row exists: %v", shop, rec.GetCustomerId(), rec.GetProductId(), r.GetStatus(), ok)
		return
	}
	v := protoconv.Vector(rec.GetFeatures())
	for i, val := range v.AppendValues(nil) {
		d := features.Catalog()[i]
		if diff := testenv.CompareValue(d, val, want.Values[d.Name]); diff != "" {
			t.Errorf("%s %s/%s %s: %s", shop, rec.GetCustomerId(), rec.GetProductId(), d.Name, diff)
		}
	}
	if !rec.GetAsOf().AsTime().Equal(goldenAsOf) || rec.GetComputedAt() == nil || rec.GetFeaturesVersion() != features.Version {
		t.Errorf("record metadata: as_of %v computed_at %v version %d", rec.GetAsOf(), rec.GetComputedAt(), rec.GetFeaturesVersion())
	}
}

func expectedByKey(t *testing.T) map[[3]string]testenv.ExpectedRow {
	out := map[[3]string]testenv.ExpectedRow{}
	for _, r := range testenv.ReadExpected(t, "expected_interaction_features.csv") {
		out[[3]string{r.ShopID, r.CustomerID, r.ProductID}] = r
	}
	return out
}

func statuses(results []*featurestorev1.FeatureResult) []string {
	out := make([]string, len(results))
	for i, r := range results {
		out[i] = r.GetRecord().GetProductId() + "=" + r.GetStatus().String()[len("FEATURE_STATUS_"):]
	}
	return out
}

func TestGetFeatures(t *testing.T) {
	t.Parallel()
	expected := expectedByKey(t)
	for _, tc := range []struct {
		name  string
		redis bool
	}{{"postgres only", false}, {"with redis", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			redisURL := ""
			if tc.redis {
				redisURL = testenv.Redis(t)
			}
			o := startOnline(t, redisURL, nil)
			asked := []string{product(9000), product(9009), product(9001), product(9000), product(9999)}
			results, cost := o.get(t, "shop-0", cust1000, asked...)
			want := []string{product(9000) + "=FOUND", product(9009) + "=NOT_FOUND", product(9001) + "=FOUND", product(9000) + "=FOUND", product(9999) + "=NOT_FOUND"}
			if got := statuses(results); !slices.Equal(got, want) {
				t.Fatalf("results %v, want %v (in the order asked)", got, want)
			}
			for _, r := range results {
				if r.GetRecord().GetCustomerId() != cust1000 {
					t.Errorf("result for customer %q", r.GetRecord().GetCustomerId())
				}
				if r.GetStatus() == featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND {
					checkGolden(t, expected, "shop-0", r)
				} else if r.GetRecord().GetFeatures() != nil {
					t.Errorf("NOT_FOUND result carries features: %v", r)
				}
			}
			if cost != 1 {
				t.Errorf("first read cost %d queries, want 1", cost)
			}
			// The same customer again, other products, found or not.
			results, cost = o.get(t, "shop-0", cust1000, product(9002), product(9009))
			if got := statuses(results); !slices.Equal(got, []string{product(9002) + "=FOUND", product(9009) + "=NOT_FOUND"}) {
				t.Fatalf("second read %v", got)
			}
			wantCost := int64(1)
			if tc.redis {
				wantCost = 0 // a warm customer, found or not, costs no query
			}
			if cost != wantCost {
				t.Errorf("second read cost %d queries, want %d", cost, wantCost)
			}
			// Shops do not mix: the same ids in shop-1 answer shop-1's row.
			results, _ = o.get(t, "shop-1", cust1000, product(9000), product(9004))
			for _, r := range results {
				if r.GetStatus() == featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND {
					checkGolden(t, expected, "shop-1", r)
				} else if _, ok := expected[[3]string{"shop-1", cust1000, r.GetRecord().GetProductId()}]; ok {
					t.Errorf("shop-1 %s: NOT_FOUND, but the golden set has the row", r.GetRecord().GetProductId())
				}
			}
		})
	}
}

func TestGetFeaturesKeysAcrossCustomers(t *testing.T) {
	t.Parallel()
	o := startOnline(t, testenv.Redis(t), nil)
	expected := expectedByKey(t)
	keys := []*featurestorev1.FeatureKey{
		{CustomerId: cust1003, ProductId: product(9000)},
		{CustomerId: cust1000, ProductId: product(9001)},
		{CustomerId: cust1003, ProductId: product(9009)},
		{CustomerId: "gid://shopify/Customer/404", ProductId: product(9000)},
		{CustomerId: cust1000, ProductId: product(9000)},
	}
	for round := range 2 {
		before := o.queries.n.Load()
		resp, err := o.client.GetFeatures(context.Background(), &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		cost := o.queries.n.Load() - before
		if len(resp.GetResults()) != len(keys) {
			t.Fatalf("%d results for %d keys", len(resp.GetResults()), len(keys))
		}
		for i, r := range resp.GetResults() {
			k := keys[i]
			rec := r.GetRecord()
			if rec.GetCustomerId() != k.GetCustomerId() || rec.GetProductId() != k.GetProductId() {
				t.Fatalf("result %d is %s/%s, asked %s/%s", i, rec.GetCustomerId(), rec.GetProductId(), k.GetCustomerId(), k.GetProductId())
			}
			_, exists := expected[[3]string{"shop-0", k.GetCustomerId(), k.GetProductId()}]
			if found := r.GetStatus() == featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND; found != exists {
				t.Errorf("%s/%s: status %s, golden row exists %v", k.GetCustomerId(), k.GetProductId(), r.GetStatus(), exists)
			} else if found {
				checkGolden(t, expected, "shop-0", r)
			}
		}
		// The first round fills the three customers with one query; the
		// second costs none.
		if want := []int64{1, 0}[round]; cost != want {
			t.Errorf("round %d cost %d queries, want %d", round, cost, want)
		}
	}
}

// TestGetFeaturesAfterCompute warms a customer, changes its inputs, and
// recomputes, FULL or INCREMENTAL: the very next read must show the new
// vectors and not the removed pair, still without a query.
func TestGetFeaturesAfterCompute(t *testing.T) {
	t.Parallel()
	for _, mode := range []featurestorev1.ComputeMode{featurestorev1.ComputeMode_COMPUTE_MODE_FULL, featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			testGetFeaturesAfterCompute(t, mode)
		})
	}
}

func testGetFeaturesAfterCompute(t *testing.T, mode featurestorev1.ComputeMode) {
	o := startOnline(t, testenv.Redis(t), nil)
	ctx := context.Background()
	before, _ := o.get(t, "shop-0", cust1000, product(9000), product(9002))
	if got := statuses(before); !slices.Equal(got, []string{product(9000) + "=FOUND", product(9002) + "=FOUND"}) {
		t.Fatalf("before: %v", got)
	}
	// Two new views of 9000; every event of 9002 gone (it has no orders).
	if _, err := o.pool.Exec(ctx, `
		INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
		VALUES ('new-1', 'shop-0', $1, $2, 'product_viewed', '2025-06-01 12:00:00+00'),
		       ('new-2', 'shop-0', $1, $2, 'product_viewed', '2025-06-01 13:00:00+00')`, cust1000, product(9000)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.pool.Exec(ctx, `DELETE FROM user_interactions WHERE shop_id = 'shop-0' AND customer_id = $1 AND product_id = $2`, cust1000, product(9002)); err != nil {
		t.Fatal(err)
	}
	later := goldenAsOf.Add(24 * time.Hour)
	sum, err := computeAll(ctx, t, o.client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0", AsOf: timestamppb.New(later), Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	if sum.GetPairsDeleted() != 1 || sum.GetMode() != mode {
		t.Errorf("pairs_deleted = %d in a %s run, want 1 in a %s run", sum.GetPairsDeleted(), sum.GetMode(), mode)
	}
	after, cost := o.get(t, "shop-0", cust1000, product(9000), product(9002))
	if got := statuses(after); !slices.Equal(got, []string{product(9000) + "=FOUND", product(9002) + "=NOT_FOUND"}) {
		t.Fatalf("after the run: %v, want 9000 found and the removed 9002 not found", got)
	}
	rec := after[0].GetRecord()
	if got, want := rec.GetFeatures().GetTotalViews(), before[0].GetRecord().GetFeatures().GetTotalViews()+2; got != want {
		t.Errorf("total_views after the run = %d, want %d", got, want)
	}
	if !rec.GetAsOf().AsTime().Equal(later) || !rec.GetComputedAt().AsTime().After(before[0].GetRecord().GetComputedAt().AsTime()) {
		t.Errorf("after the run: as_of %v computed_at %v", rec.GetAsOf().AsTime(), rec.GetComputedAt().AsTime())
	}
	if cost != 0 {
		t.Errorf("read after the run cost %d queries; the run should have written through", cost)
	}
	// The table agrees with what was served.
	var views int32
	if err := o.pool.QueryRow(ctx, `SELECT total_views FROM interaction_features WHERE shop_id = 'shop-0' AND customer_id = $1 AND product_id = $2`, cust1000, product(9000)).Scan(&views); err != nil || views != rec.GetFeatures().GetTotalViews() {
		t.Errorf("table total_views %d (err %v), served %d", views, err, rec.GetFeatures().GetTotalViews())
	}
}

// TestGetFeaturesThroughRedisOutage stops Redis while reads go on, then
// starts it again: every read succeeds, and the cache is used again after.
func TestGetFeaturesThroughRedisOutage(t *testing.T) {
	t.Parallel()
	redis := testenv.StartRedis(t)
	o := startOnline(t, redis.URL(), func(c *cache.Config) { c.BreakerCooldown = 100 * time.Millisecond })
	expected := expectedByKey(t)
	read := func() int64 {
		results, cost := o.get(t, "shop-0", cust1000, product(9000), product(9009))
		checkGolden(t, expected, "shop-0", results[0])
		if results[1].GetStatus() != featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND {
			t.Errorf("9009: %s", results[1].GetStatus())
		}
		return cost
	}
	read()
	if cost := read(); cost != 0 {
		t.Fatalf("warm read cost %d queries", cost)
	}
	redis.Stop()
	for range 20 {
		if cost := read(); cost != 1 {
			t.Fatalf("read with redis down cost %d queries, want 1 (from postgres)", cost)
		}
	}
	redis.Start() // empty: the restarted server kept nothing
	testenv.WaitFor(t, time.Minute, "reads return to the cache after redis came back", func() bool { return read() == 0 })
}

// TestGetFeaturesWithSilentRedis points the cache at a Redis that accepts
// connections and never answers, from the start or from mid-way: reads
// succeed from Postgres, and once the breaker opens they stop paying
// Redis' timeout.
func TestGetFeaturesWithSilentRedis(t *testing.T) {
	t.Parallel()
	// A timeout far above a Postgres read even on a busy machine, so that a
	// read that waits for Redis cannot pass for one that does not.
	const timeout = time.Second
	tune := func(c *cache.Config) {
		c.Timeout = timeout
		c.BreakerCooldown = time.Minute
	}
	expected := expectedByKey(t)
	check := func(t *testing.T, o *online) {
		var durations []time.Duration
		for range 10 {
			start := time.Now()
			results, _ := o.get(t, "shop-0", cust1000, product(9000))
			durations = append(durations, time.Since(start))
			checkGolden(t, expected, "shop-0", results[0])
		}
		slices.Sort(durations)
		if median := durations[len(durations)/2]; median >= timeout/2 {
			t.Errorf("median read took %s with the breaker open; it should not wait for redis (timeout %s): %v", median, timeout, durations)
		}
	}
	t.Run("silent from the start", func(t *testing.T) {
		t.Parallel()
		check(t, startOnline(t, testenv.SilentServer(t), tune))
	})
	t.Run("hangs while serving", func(t *testing.T) {
		t.Parallel()
		redis := testenv.StartRedis(t)
		o := startOnline(t, redis.URL(), tune)
		o.get(t, "shop-0", cust1000, product(9000)) // warm
		redis.Pause()
		defer redis.Resume()
		check(t, o)
	})
}

func TestGetFeaturesDenseVector(t *testing.T) {
	t.Parallel()
	o := startOnline(t, "", nil)
	ctx := context.Background()
	desc, err := o.client.DescribeFeatures(ctx, &featurestorev1.DescribeFeaturesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := o.client.GetFeatures(ctx, &featurestorev1.GetFeaturesRequest{
		ShopId: "shop-0", CustomerId: cust1000, ProductIds: []string{product(9000), product(9009), product(9010)}, IncludeVector: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := resp.GetResults()[1].GetVector(); len(v) != 0 {
		t.Errorf("NOT_FOUND result has a vector %v", v)
	}
	for _, r := range []*featurestorev1.FeatureResult{resp.GetResults()[0], resp.GetResults()[2]} {
		vec := r.GetVector()
		if len(vec) != len(desc.GetFeatures()) {
			t.Fatalf("vector has %d values, DescribeFeatures %d features", len(vec), len(desc.GetFeatures()))
		}
		v := protoconv.Vector(r.GetRecord().GetFeatures())
		values := v.AppendValues(nil)
		for i, fd := range desc.GetFeatures() {
			got := vec[fd.GetDenseIndex()]
			var want float64
			switch x := values[i].(type) {
			case nil:
				want = math.NaN()
			case int64:
				want = float64(x)
			case float64:
				want = x
			case time.Time:
				want = float64(x.UnixMicro()) / 1e6
			case string:
				want = float64(slices.Index(fd.GetCategories(), x))
				if want < 0 {
					want = float64(len(fd.GetCategories()) - 1)
				}
			}
			if !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
				t.Errorf("%s: dense %v, want %v (value %v)", fd.GetName(), got, want, values[i])
			}
			if fd.GetNullable() == false && math.IsNaN(got) {
				t.Errorf("%s is not nullable but dense is NaN", fd.GetName())
			}
		}
	}
}

func TestGetFeaturesInvalidArguments(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	client := startServer(t, pool, nil)
	long := string(make([]byte, 256))
	many := make([]string, 1001)
	manyKeys := make([]*featurestorev1.FeatureKey, 1001)
	for i := range many {
		many[i] = product(i)
		manyKeys[i] = &featurestorev1.FeatureKey{CustomerId: "c", ProductId: product(i)}
	}
	for _, tc := range []struct {
		name  string
		req   *featurestorev1.GetFeaturesRequest
		field string
	}{
		{"no shop", &featurestorev1.GetFeaturesRequest{CustomerId: "c", ProductIds: []string{"p"}}, "shop_id"},
		{"no customer", &featurestorev1.GetFeaturesRequest{ShopId: "s", ProductIds: []string{"p"}}, "customer_id"},
		{"no products", &featurestorev1.GetFeaturesRequest{ShopId: "s", CustomerId: "c"}, "product_ids"},
		{"too many products", &featurestorev1.GetFeaturesRequest{ShopId: "s", CustomerId: "c", ProductIds: many}, "product_ids"},
		{"empty product", &featurestorev1.GetFeaturesRequest{ShopId: "s", CustomerId: "c", ProductIds: []string{"p", ""}}, "product_ids[1]"},
		{"over-long customer", &featurestorev1.GetFeaturesRequest{ShopId: "s", CustomerId: long, ProductIds: []string{"p"}}, "customer_id"},
		{"too many keys", &featurestorev1.GetFeaturesRequest{ShopId: "s", Keys: manyKeys}, "keys"},
		{"key without product", &featurestorev1.GetFeaturesRequest{ShopId: "s", Keys: []*featurestorev1.FeatureKey{{CustomerId: "c"}}}, "keys[0].product_id"},
		{"keys and customer", &featurestorev1.GetFeaturesRequest{ShopId: "s", CustomerId: "c", Keys: []*featurestorev1.FeatureKey{{CustomerId: "c", ProductId: "p"}}}, "keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := client.GetFeatures(context.Background(), tc.req)
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || len(st.Message()) < len(tc.field) || st.Message()[:len(tc.field)+1] != tc.field+":" {
				t.Fatalf("got %v, want INVALID_ARGUMENT naming %s", err, tc.field)
			}
		})
	}
}

// TestGetFeaturesHonoursDeadline proves the caller's deadline reaches the
// Redis and Postgres calls: a hung Redis gets only part of the caller's
// time, so the read still succeeds from Postgres before the deadline, and a
// blocked table ends the call at the deadline, not at its own timeout.
func TestGetFeaturesHonoursDeadline(t *testing.T) {
	t.Parallel()
	// Long enough for Postgres to answer within half of it on a busy
	// machine, once Redis has had the other half.
	const deadline = 4 * time.Second
	call := func(t *testing.T, client featurestorev1.FeatureStoreServiceClient) (time.Duration, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		_, err := client.GetFeatures(ctx, &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: cust1000, ProductIds: []string{product(9000)}})
		return time.Since(start), err
	}
	t.Run("redis hangs", func(t *testing.T) {
		t.Parallel()
		redis := testenv.StartRedis(t)
		o := startOnline(t, redis.URL(), func(c *cache.Config) { c.Timeout = time.Minute })
		o.get(t, "shop-0", cust1000, product(9000)) // warm
		redis.Pause()
		defer redis.Resume()
		took, err := call(t, o.client)
		if err != nil {
			t.Fatalf("read with a hung redis and a %s deadline: %v, want an answer from postgres", deadline, err)
		}
		if took > deadline {
			t.Errorf("the call took %s, past its deadline of %s", took, deadline)
		}
	})
	t.Run("postgres blocked", func(t *testing.T) {
		t.Parallel()
		o := startOnline(t, "", nil)
		ctx := context.Background()
		tx, err := o.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "LOCK TABLE interaction_features IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		took, err := call(t, o.client)
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DEADLINE_EXCEEDED", err)
		}
		if took > deadline+5*time.Second {
			t.Errorf("the call took %s, past its deadline of %s", took, deadline)
		}
		// The server cancelled its query rather than leaving it waiting.
		testenv.WaitFor(t, time.Minute, "the server cancels its blocked query", func() bool {
			var waiting int
			err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%interaction_features%'`).Scan(&waiting)
			return err == nil && waiting == 0
		})
	})
}

// BenchmarkGetFeaturesWarm reads one customer x 100 products (the golden
// customer's, found, and others, not found) through the gRPC service, as a
// ranking model does at inference time, once the customer is cached in
// Redis; and, for comparison, from Postgres alone.
func BenchmarkGetFeaturesWarm(b *testing.B) {
	products := make([]string, 100)
	for i := range products {
		products[i] = product(9000 + i)
	}
	req := &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: cust1000, ProductIds: products}
	for _, tc := range []struct {
		name  string
		redis bool
	}{{"redis", true}, {"postgres", false}} {
		b.Run(tc.name, func(b *testing.B) {
			redisURL := ""
			if tc.redis {
				redisURL = testenv.Redis(b)
			}
			o := startOnline(b, redisURL, nil)
			ctx := context.Background()
			if _, err := o.client.GetFeatures(ctx, req); err != nil { // warm
				b.Fatal(err)
			}
			before := o.queries.n.Load()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := o.client.GetFeatures(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			if queries := o.queries.n.Load() - before; tc.redis && queries != 0 {
				b.Errorf("%d warm reads cost %d Postgres queries, want none", b.N, queries)
			}
		})
	}
}

// TestGetFeaturesConcurrentAnswersStayApart reads many customers at once
// through the cache, in both formats, and checks every answer against the
// one the same request got alone. Redis replies and answers are written
// in buffers reused from call to call; the cache's own test of lending
// (TestLentRecordsStayWhileLent) pins the reuse of replies down, this one
// checks the whole path under concurrency.
func TestGetFeaturesConcurrentAnswersStayApart(t *testing.T) {
	t.Parallel()
	o := startOnline(t, testenv.Redis(t), nil)
	byCustomer := map[string][]string{}
	for k := range expectedByKey(t) {
		if k[0] == "shop-0" {
			byCustomer[k[1]] = append(byCustomer[k[1]], k[2])
		}
	}
	ctx := context.Background()
	var reqs []*featurestorev1.GetFeaturesRequest
	for customer, products := range byCustomer {
		slices.Sort(products)
		products = append(products, product(9999)) // and one not found
		for _, format := range []featurestorev1.Format{featurestorev1.Format_FORMAT_RECORDS, featurestorev1.Format_FORMAT_MATRIX} {
			reqs = append(reqs, &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: customer, ProductIds: products, Format: format})
		}
		if len(reqs) >= 24 {
			break
		}
	}
	alone := make([]*featurestorev1.GetFeaturesResponse, len(reqs))
	for i, req := range reqs {
		var err error
		if alone[i], err = o.client.GetFeatures(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	before := o.queries.n.Load()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := range 60 {
				i := (w*7 + n) % len(reqs)
				got, err := o.client.GetFeatures(ctx, reqs[i])
				if err != nil {
					t.Error(err)
					return
				}
				if !proto.Equal(got, alone[i]) {
					t.Errorf("customer %s, %s: the answer differs from the one it got alone", reqs[i].GetCustomerId(), reqs[i].GetFormat())
					return
				}
			}
		})
	}
	wg.Wait()
	if q := o.queries.n.Load() - before; q != 0 {
		t.Errorf("warm reads cost %d Postgres queries, want none", q)
	}
}
