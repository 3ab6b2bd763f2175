package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
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

// loadSummary is a case's figures: one run's, or the medians of rounds.
type loadSummary struct {
	name        string
	concurrency int
	requests    int
	p50, p99    time.Duration
	rps         float64
}

func summarize(r loadResult) loadSummary {
	return loadSummary{name: r.name, concurrency: r.concurrency, requests: len(r.latencies), p50: r.percentile(0.5), p99: r.percentile(0.99), rps: r.rate()}
}

// medianResult is the medians of rounds of one case.
func medianResult(rounds []loadResult) loadSummary {
	var p50s, p99s []time.Duration
	var rates []float64
	for _, r := range rounds {
		p50s, p99s, rates = append(p50s, r.percentile(0.5)), append(p99s, r.percentile(0.99)), append(rates, r.rate())
	}
	slices.Sort(rates)
	return loadSummary{name: rounds[0].name, concurrency: rounds[0].concurrency, requests: len(rounds[0].latencies),
		p50: median(p50s), p99: median(p99s), rps: rates[len(rates)/2]}
}

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

	// --pprof lets a run be profiled at the metrics address it prints. A
	// Redis round trip on a loaded machine can pass the default 50 ms
	// budget, and the read would then measure Postgres: the benchmark
	// measures the cache.
	srv, err := startServer(ctx, e.opts.binary, e.url, e.opts.redisURL, "--pprof", "--cache-timeout", "2s")
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
	authSrv, err := startServer(ctx, e.opts.binary, e.url, e.opts.redisURL, "--auth", "keys", "--cache-timeout", "2s")
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

	// The answers as a client that does not decode them receives them,
	// beside bare servers answering the same bytes (wirefloor.go).
	recordsReq := &featurestorev1.GetFeaturesRequest{ShopId: getShop, CustomerId: customer, ProductIds: products}
	matrixReq := &featurestorev1.GetFeaturesRequest{ShopId: getShop, CustomerId: customer, ProductIds: products, Format: featurestorev1.Format_FORMAT_MATRIX}
	raw := map[string]func() error{}
	for _, a := range []struct {
		name string
		req  *featurestorev1.GetFeaturesRequest
	}{{"records", recordsReq}, {"matrix", matrixReq}} {
		answer, err := rawAnswer(ctx, srv.conn, a.req)
		if err != nil {
			return err
		}
		if raw["GetFeatures "+a.name+", undecoded"], err = rawCall(ctx, srv.conn, a.req, len(answer)); err != nil {
			return err
		}
		floor, err := startFloor(ctx, answer)
		if err != nil {
			return err
		}
		defer floor.stop()
		if raw["bare gRPC floor, "+a.name], err = rawCall(ctx, floor.conn, a.req, len(answer)); err != nil {
			return err
		}
		fmt.Printf("  %s answer: %d bytes\n", a.name, len(answer))
	}

	cases := []struct {
		name string
		fn   func() error
	}{{"redis HMGET (floor)", hmget}, {"gRPC health check", ping},
		{"bare gRPC floor, records", raw["bare gRPC floor, records"]}, {"GetFeatures records, undecoded", raw["GetFeatures records, undecoded"]},
		{"bare gRPC floor, matrix", raw["bare gRPC floor, matrix"]}, {"GetFeatures matrix, undecoded", raw["GetFeatures matrix, undecoded"]},
		{"GetFeatures, 1 product", getOne}, {"GetFeatures", get}, {"GetFeatures, API key", getWithKey}}
	// Each case is measured in rounds, the cases taking turns, so that the
	// load of a shared machine falls on all of them alike; a case's
	// figures are the medians over its rounds.
	var results []loadSummary
	// The server's CPU time per call of the undecoded answers, by case and
	// concurrency: what one more call costs the server, whatever the
	// machine's load did to the wall clock.
	cpuPerCall := map[[2]any][]time.Duration{}
	for _, conc := range []int{1, 16} {
		n := 1000
		if conc > 1 {
			n = 4000
		}
		rounds := make([][]loadResult, len(cases))
		for round := range max(e.opts.rounds, 1) {
			for i, c := range cases {
				if round == 0 {
					if _, err := load(c.name, conc, n/10, c.fn); err != nil { // warm-up
						return fmt.Errorf("%s: %w", c.name, err)
					}
				}
				cpuBefore, err := srv.cpuTime()
				if err != nil {
					return err
				}
				r, err := load(c.name, conc, n, c.fn)
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				cpuAfter, err := srv.cpuTime()
				if err != nil {
					return err
				}
				if strings.HasSuffix(c.name, ", undecoded") {
					key := [2]any{c.name, conc}
					cpuPerCall[key] = append(cpuPerCall[key], (cpuAfter-cpuBefore)/time.Duration(n))
				}
				rounds[i] = append(rounds[i], r)
			}
		}
		for _, rs := range rounds {
			results = append(results, medianResult(rs))
		}
	}
	cold, err := benchCold(ctx, e, client, rdb, products)
	if err != nil {
		return err
	}
	results = append(results, summarize(cold))

	fmt.Printf("\nGetFeatures: one customer x %d products (shop %s), warm cache unless noted; client and server share the machine; medians of %d rounds\n",
		len(products), getShop, max(e.opts.rounds, 1))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tconcurrency\trequests\tp50\tp99\trequests/s\tp50 / HMGET p50\t")
	byName := map[[2]any]loadSummary{}
	for _, r := range results {
		byName[[2]any{r.name, r.concurrency}] = r
		ratio := "-"
		if hm := byName[[2]any{"redis HMGET (floor)", r.concurrency}]; hm.p50 > 0 && strings.HasPrefix(r.name, "GetFeatures") {
			ratio = fmt.Sprintf("%.1fx", r.p50.Seconds()/hm.p50.Seconds())
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%.0f\t%s\t\n", r.name, r.concurrency, r.requests,
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.rps, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	at := func(name string, conc int) loadSummary { return byName[[2]any{name, conc}] }
	hm1 := at("redis HMGET (floor)", 1)
	for _, a := range []string{"records", "matrix"} {
		got1, floor1 := at("GetFeatures "+a+", undecoded", 1), at("bare gRPC floor, "+a, 1)
		got16, floor16 := at("GetFeatures "+a+", undecoded", 16), at("bare gRPC floor, "+a, 16)
		fmt.Printf("%s, undecoded: c=1 p50 %s = %.2fx its floor (%s), %.2fx floor + HMGET (%s); p99 %s; c=16 %.0f req/s = %.2fx the floor's %.0f\n",
			a, got1.p50.Round(time.Microsecond), got1.p50.Seconds()/floor1.p50.Seconds(), floor1.p50.Round(time.Microsecond),
			got1.p50.Seconds()/(floor1.p50+hm1.p50).Seconds(), (floor1.p50 + hm1.p50).Round(time.Microsecond),
			got1.p99.Round(time.Microsecond), got16.rps, got16.rps/floor16.rps, floor16.rps)
	}
	for _, conc := range []int{1, 16} {
		fmt.Printf("server CPU per call at c=%d (median of rounds): records %s, matrix %s\n", conc,
			median(cpuPerCall[[2]any{"GetFeatures records, undecoded", conc}]).Round(time.Microsecond),
			median(cpuPerCall[[2]any{"GetFeatures matrix, undecoded", conc}]).Round(time.Microsecond))
	}
	rec1, mat1 := at("GetFeatures records, undecoded", 1), at("GetFeatures matrix, undecoded", 1)
	rec16, mat16 := at("GetFeatures records, undecoded", 16), at("GetFeatures matrix, undecoded", 16)
	fmt.Printf("matrix against records: c=1 p50 %.2fx faster; c=16 %.2fx the req/s\n",
		rec1.p50.Seconds()/mat1.p50.Seconds(), mat16.rps/rec16.rps)
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
