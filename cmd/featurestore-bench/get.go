package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/demo"
	"github.com/featurestore/featurestore/internal/store"
)

func init() { register("get", benchGet) }

// getShop is the demo shop the online-read benchmark serves.
const getShop = "bench-get"

// loadResult is one load run's latencies.
type loadResult struct {
	name        string
	concurrency int
	latencies   []time.Duration
	elapsed     time.Duration
}

func (r loadResult) percentile(p float64) time.Duration {
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func (r loadResult) rate() float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }

// load calls fn n times from concurrency goroutines and records each call's
// latency.
func load(name string, concurrency, n int, fn func() error) (loadResult, error) {
	res := loadResult{name: name, concurrency: concurrency, latencies: make([]time.Duration, n)}
	var (
		next    = make(chan int, n)
		wg      sync.WaitGroup
		errOnce sync.Once
		firstEr error
	)
	for i := range n {
		next <- i
	}
	close(next)
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				t := time.Now()
				if err := fn(); err != nil {
					errOnce.Do(func() { firstEr = err })
					return
				}
				res.latencies[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, firstEr
}

// benchGet measures GetFeatures for one customer x 100 products with a warm
// cache, at concurrency 1 and 16, beside go-redis' HMGET of the same hash
// (the floor), then the first request for customers not yet cached.
func benchGet(ctx context.Context, e env) error {
	if e.opts.redisURL == "" {
		fmt.Println("\nGetFeatures: skipped, no --redis-url / REDIS_URL")
		return nil
	}
	c := demo.DefaultConfig()
	c.ShopID = getShop
	if err := ensureShop(ctx, e, c); err != nil {
		return err
	}
	engine, err := compute.NewEngine(e.st, compute.DefaultConfig(), quietLogger())
	if err != nil {
		return err
	}
	if _, err := engine.Run(ctx, compute.Request{ShopID: getShop, AsOf: c.End, Mode: compute.Full}, nil); err != nil {
		return fmt.Errorf("compute %s: %w", getShop, err)
	}
	customer, products, err := e.st.SampleCustomer(ctx, getShop, 100)
	if err != nil {
		return err
	}
	opts, err := redis.ParseURL(e.opts.redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Del(ctx, cache.Key(getShop, customer)).Err(); err != nil {
		return err
	}

	srv, err := startServer(ctx, e.opts.binary, e.url, e.opts.redisURL)
	if err != nil {
		return err
	}
	defer srv.stop()
	// The same reads from a server that checks API keys: the cost of the
	// check on the hot path.
	keyCtx, err := benchKey(ctx, e, getShop)
	if err != nil {
		return err
	}
	authSrv, err := startServer(ctx, e.opts.binary, e.url, e.opts.redisURL, "--auth", "keys")
	if err != nil {
		return err
	}
	defer authSrv.stop()
	authClient := featurestorev1.NewFeatureStoreServiceClient(authSrv.conn)
	client := featurestorev1.NewFeatureStoreServiceClient(srv.conn)
	req := &featurestorev1.GetFeaturesRequest{ShopId: getShop, CustomerId: customer, ProductIds: products}
	getFrom := func(ctx context.Context, client featurestorev1.FeatureStoreServiceClient) func() error {
		return func() error {
			resp, err := client.GetFeatures(ctx, req)
			if err == nil && len(resp.GetResults()) != len(products) {
				err = fmt.Errorf("%d results for %d products", len(resp.GetResults()), len(products))
			}
			return err
		}
	}
	get, getWithKey := getFrom(ctx, client), getFrom(keyCtx, authClient)
	if err := get(); err != nil { // warms the customer's hash
		return err
	}
	fields := append([]string{""}, products...)
	hmget := func() error { return rdb.HMGet(ctx, cache.Key(getShop, customer), fields...).Err() }
	// The cost of any unary call through the same connection: what gRPC
	// itself adds on this machine, whatever the handler does.
	health := healthpb.NewHealthClient(srv.conn)
	ping := func() error { _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); return err }
	one := &featurestorev1.GetFeaturesRequest{ShopId: getShop, CustomerId: customer, ProductIds: products[:1]}
	getOne := func() error { _, err := client.GetFeatures(ctx, one); return err }

	var results []loadResult
	for _, conc := range []int{1, 16} {
		n := 2000
		if conc > 1 {
			n = 8000
		}
		for _, c := range []struct {
			name string
			fn   func() error
		}{{"redis HMGET (floor)", hmget}, {"gRPC health check", ping}, {"GetFeatures, 1 product", getOne}, {"GetFeatures", get},
			{"GetFeatures, API key", getWithKey}} {
			if _, err := load(c.name, conc, n/10, c.fn); err != nil { // warm-up
				return err
			}
			r, err := load(c.name, conc, n, c.fn)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			results = append(results, r)
		}
	}
	cold, err := benchCold(ctx, e, client, rdb, products)
	if err != nil {
		return err
	}
	results = append(results, cold)

	fmt.Printf("\nGetFeatures: one customer x %d products (shop %s), warm cache unless noted; client and server share the machine\n", len(products), getShop)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tconcurrency\trequests\tp50\tp99\trequests/s\tp50 / floor p50\t")
	var floor time.Duration
	for _, r := range results {
		if r.name == "redis HMGET (floor)" {
			floor = r.percentile(0.5)
		}
		ratio := "-"
		if (r.name == "GetFeatures" || r.name == "GetFeatures, API key") && floor > 0 {
			ratio = fmt.Sprintf("%.1fx", r.percentile(0.5).Seconds()/floor.Seconds())
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%.0f\t%s\t\n", r.name, r.concurrency, len(r.latencies),
			r.percentile(0.5).Round(time.Microsecond), r.percentile(0.99).Round(time.Microsecond), r.rate(), ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The cost of the key check, measured with the two servers' calls
	// interleaved one by one, so that the load of a shared machine falls
	// on both alike.
	without, with := loadResult{name: "without"}, loadResult{name: "with"}
	for range 3000 {
		for _, c := range []struct {
			r  *loadResult
			fn func() error
		}{{&without, get}, {&with, getWithKey}} {
			t := time.Now()
			if err := c.fn(); err != nil {
				return err
			}
			c.r.latencies = append(c.r.latencies, time.Since(t))
		}
	}
	fmt.Printf("API key check, GetFeatures calls interleaved one by one (%d each): p50 %s with a key, %s without (%+d µs); p99 %s and %s\n",
		len(with.latencies), with.percentile(0.5).Round(time.Microsecond), without.percentile(0.5).Round(time.Microsecond),
		(with.percentile(0.5) - without.percentile(0.5)).Microseconds(), with.percentile(0.99).Round(time.Microsecond), without.percentile(0.99).Round(time.Microsecond))
	return nil
}

// benchKey creates (or renews) a read key for shop in the benchmark
// database and returns ctx carrying it.
func benchKey(ctx context.Context, e env, shop string) (context.Context, error) {
	id, secret, err := auth.NewSecret()
	if err != nil {
		return nil, err
	}
	hash := auth.HashSecret(secret)
	if _, _, err := e.st.CreateKey(ctx, store.APIKey{
		ID: id, Name: "featurestore-bench", SecretHash: hash[:], Shops: []string{shop}, Scopes: auth.ScopeRead.Names(),
	}, true); err != nil {
		return nil, fmt.Errorf("create the benchmark's api key: %w", err)
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret), nil
}

// benchCold times the first GetFeatures of customers whose hashes are not
// cached: each request misses, reads Postgres and fills Redis.
func benchCold(ctx context.Context, e env, client featurestorev1.FeatureStoreServiceClient, rdb *redis.Client, products []string) (loadResult, error) {
	rows, err := e.pool.Query(ctx, `SELECT DISTINCT customer_id FROM interaction_features WHERE shop_id = $1 ORDER BY customer_id LIMIT 300`, getShop)
	if err != nil {
		return loadResult{}, err
	}
	var customers []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return loadResult{}, err
		}
		customers = append(customers, c)
	}
	if err := rows.Err(); err != nil {
		return loadResult{}, err
	}
	for _, c := range customers {
		if err := rdb.Del(ctx, cache.Key(getShop, c)).Err(); err != nil {
			return loadResult{}, err
		}
	}
	var mu sync.Mutex
	i := 0
	return load("GetFeatures, cold", 1, len(customers), func() error {
		mu.Lock()
		c := customers[i]
		i++
		mu.Unlock()
		_, err := client.GetFeatures(ctx, &featurestorev1.GetFeaturesRequest{ShopId: getShop, CustomerId: c, ProductIds: products})
		return err
	})
}
