package cache_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

var (
	march = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	june  = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
)

const (
	goldenShop     = "shop-0"
	goldenCustomer = "gid://shopify/Customer/1000"
)

// server is one process's online read path: a cache over its own pool on
// the shared database.
func server(t *testing.T, url string, cfg cache.Config) (*cache.Cache, *pgxpool.Pool) {
	t.Helper()
	pool, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c, err := cache.New(context.Background(), store.New(pool), cfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return c, pool
}

// readAsOf reads the golden customer's products through c and returns each
// record's as_of and computed_at.
func readAsOf(t *testing.T, c *cache.Cache, products []string) []string {
	t.Helper()
	out, err := c.ReadPairs(context.Background(), goldenShop, []store.Lookup{{CustomerID: goldenCustomer, ProductIDs: products}})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(products))
	for i, rec := range out[0] {
		switch {
		case !rec.Found():
			got[i] = "not found"
		case rec.Row != nil: // read from Postgres
			got[i] = describeRow(rec.Row)
		default:
			r, err := protoconv.EncodedRecord(rec.Encoded).Decode(goldenCustomer, products[i])
			if err != nil {
				t.Fatal(err)
			}
			got[i] = describeRow(&store.StoredRow{AsOf: r.GetAsOf().AsTime(), ComputedAt: r.GetComputedAt().AsTime()})
		}
	}
	return got
}

func describeRow(r *store.StoredRow) string {
	return fmt.Sprintf("as of %s computed at %s", r.AsOf.UTC().Format(time.RFC3339), r.ComputedAt.UTC().Format(time.RFC3339Nano))
}

// goldenProducts returns the golden customer's stored products, and one
// without a row.
func goldenProducts(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	var products []string
	for _, r := range testenv.StoredRows(t, pool, goldenShop) {
		if r.CustomerID == goldenCustomer {
			products = append(products, r.ProductID)
		}
	}
	return append(products, "gid://shopify/Product/none")
}

// tableAsOf is what readAsOf must answer: the table's rows.
func tableAsOf(t *testing.T, pool *pgxpool.Pool, products []string) []string {
	t.Helper()
	rows := map[string]store.StoredRow{}
	for _, r := range testenv.StoredRows(t, pool, goldenShop) {
		if r.CustomerID == goldenCustomer {
			rows[r.ProductID] = r
		}
	}
	out := make([]string, len(products))
	for i, p := range products {
		r, ok := rows[p]
		if !ok {
			out[i] = "not found"
			continue
		}
		out[i] = describeRow(&r)
	}
	return out
}

// diff describes the first product whose record differs, or is "".
func diff(got, want []string) string {
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			return fmt.Sprintf("product %d of %d: got %s, want %s", i+1, len(want), got[i], want[i])
		}
	}
	return ""
}

// proxy forwards TCP connections to Redis until it is cut: then it drops
// every connection and refuses new ones, as a network partition between
// one server and Redis would, while Redis keeps its data.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		p.setCut(true)
	})
	return p
}

func (p *proxy) url() string { return "redis://" + p.l.Addr().String() + "/0" }

// setCut cuts the proxy (dropping its connections) or heals it.
func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// marksVersion is the version of the record of hashes to repair.
func marksVersion(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var v int64
	if err := pool.QueryRow(context.Background(), `SELECT version FROM cache_marks_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func countMarks(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM cache_marks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds, failing after a minute: a gate on
// state, not a guess at how long it takes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stuckSink passes batches to the cache, except the first that holds the
// golden customer: there it stops for good, as a process that dies between
// a batch's commit and its write-through.
type stuckSink struct {
	*cache.Cache
	stuck   chan struct{} // closed once the sink is stuck
	release chan struct{} // closed by the test's end
	once    sync.Once
}

func (s *stuckSink) Written(ctx context.Context, shopID string, rows []store.FeatureRow, computedAt, asOf time.Time) error {
	for _, r := range rows {
		if r.CustomerID == goldenCustomer {
			s.once.Do(func() { close(s.stuck) })
			<-s.release
			return nil
		}
	}
	return s.Cache.Written(ctx, shopID, rows, computedAt, asOf)
}

// TestFailedWriteThroughSurvivesRestart caches a customer computed at one
// as_of, then has a run at another fail to write through, in the two ways
// it can: Redis hangs during the run, or the process dies between a
// commit and its write-through. The server that ran it is then killed.
// Neither a restarted server nor a second one sharing the Postgres and
// the Redis ever answers the old vectors; the hashes are repaired, and
// the record of them emptied, once Redis answers.
func TestFailedWriteThroughSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fail runs the compute at june with a, which reaches Redis
		// through p, and must not write the run's vectors of the golden
		// customer through to Redis; it leaves a dead and Redis answering.
		fail func(t *testing.T, url string, redisSrv *testenv.RedisProcess, p *proxy, a *cache.Cache)
	}{
		{"redis unreachable during the run", func(t *testing.T, url string, _ *testenv.RedisProcess, p *proxy, a *cache.Cache) {
			pool, err := store.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			e, err := compute.NewEngine(store.New(pool), withSink(a), testenv.Logger())
			if err != nil {
				t.Fatal(err)
			}
			p.setCut(true)
			if _, err := e.Run(context.Background(), compute.Request{ShopID: goldenShop, AsOf: june, Mode: compute.Full}, nil); err != nil {
				t.Fatal(err)
			}
			cache.Kill(a)
			p.setCut(false)
		}},
		// A hung Redis runs what it had queued when it wakes, from the
		// dead server too: this case passes on a cache that kept its record
		// in memory only if a removal was queued before the kill.
		{"redis hung during the run", func(t *testing.T, url string, redisSrv *testenv.RedisProcess, _ *proxy, a *cache.Cache) {
			pool, err := store.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			e, err := compute.NewEngine(store.New(pool), withSink(a), testenv.Logger())
			if err != nil {
				t.Fatal(err)
			}
			redisSrv.Pause()
			if _, err := e.Run(context.Background(), compute.Request{ShopID: goldenShop, AsOf: june, Mode: compute.Full}, nil); err != nil {
				t.Fatal(err)
			}
			cache.Kill(a)
			redisSrv.Resume()
		}},
		{"process died between commit and write-through", func(t *testing.T, url string, _ *testenv.RedisProcess, _ *proxy, a *cache.Cache) {
			doomed, err := store.Open(context.Background(), withParam(url, "application_name=doomed"))
			if err != nil {
				t.Fatal(err)
			}
			sink := &stuckSink{Cache: a, stuck: make(chan struct{}), release: make(chan struct{})}
			e, err := compute.NewEngine(store.New(doomed), withSink(sink), testenv.Logger())
			if err != nil {
				t.Fatal(err)
			}
			ran := make(chan struct{})
			go func() {
				defer close(ran)
				_, _ = e.Run(context.Background(), compute.Request{ShopID: goldenShop, AsOf: june, Mode: compute.Full}, nil)
			}()
			// Registered after the database's cleanup, so it runs first.
			t.Cleanup(func() {
				close(sink.release)
				<-ran
				doomed.Close()
			})
			<-sink.stuck
			// The process is gone: Postgres ends its sessions, which
			// releases the shop's lock, and the cache does nothing more.
			admin, err := store.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE application_name = 'doomed' AND datname = current_database()`); err != nil {
				t.Fatal(err)
			}
			cache.Kill(a)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, url := testenv.Postgres(t)
			testenv.LoadGolden(t, pool)
			redisSrv := testenv.StartRedis(t)
			cfg := cache.DefaultConfig(redisSrv.URL())
			cfg.PollInterval, cfg.BreakerCooldown = 50*time.Millisecond, 50*time.Millisecond

			p := startProxy(t, strings.TrimSuffix(strings.TrimPrefix(redisSrv.URL(), "redis://"), "/0"))
			aCfg := cfg
			aCfg.URL = p.url()
			a, _ := server(t, url, aCfg) // killed by tc.fail
			second, _ := server(t, url, cfg)
			t.Cleanup(func() { second.Close() })
			e, err := compute.NewEngine(store.New(pool), withSink(a), testenv.Logger())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Run(context.Background(), compute.Request{ShopID: goldenShop, AsOf: march, Mode: compute.Full}, nil); err != nil {
				t.Fatal(err)
			}
			products := goldenProducts(t, pool)
			old := tableAsOf(t, pool, products)
			for name, c := range map[string]*cache.Cache{"the first server": a, "the second server": second} {
				if d := diff(readAsOf(t, c, products), old); d != "" {
					t.Fatalf("%s before the run: %s", name, d)
				}
			}
			before := marksVersion(t, pool)

			tc.fail(t, url, redisSrv, p, a)
			fresh := tableAsOf(t, pool, products)
			if diff(fresh, old) == "" {
				t.Fatal("the run changed none of the customer's rows")
			}

			// The second server has run since before the failure: once its
			// copy of the record is as new as Postgres', it never answers
			// the old vectors.
			waitFor(t, "the second server to read the marks", func() bool {
				v := marksVersion(t, pool)
				return v > before && cache.MarksVersion(second) >= v
			})
			if d := diff(readAsOf(t, second, products), fresh); d != "" {
				t.Errorf("the second server after the failed write-through: %s (the table's)", d)
			}
			restarted, _ := server(t, url, cfg)
			t.Cleanup(func() { restarted.Close() })
			if d := diff(readAsOf(t, restarted, products), fresh); d != "" {
				t.Errorf("the restarted server after the failed write-through: %s (the table's)", d)
			}

			waitFor(t, "the marks to be repaired and removed", func() bool { return countMarks(t, pool) == 0 })
			for name, c := range map[string]*cache.Cache{"the restarted server": restarted, "the second server": second} {
				waitFor(t, name+" to read the empty record", func() bool { return cache.MarksVersion(c) >= marksVersion(t, pool) })
				for range 2 { // a fill from Postgres, then a read of what it cached
					if d := diff(readAsOf(t, c, products), fresh); d != "" {
						t.Errorf("%s after the repair: %s (the table's)", name, d)
					}
				}
			}
		})
	}
}

// withParam adds a query parameter to a database URL.
func withParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

func withSink(s compute.Sink) compute.Config {
	cfg := compute.DefaultConfig()
	cfg.Sink = s
	return cfg
}

// fallbackCounter is the store, counting the reads that fell back to it.
type fallbackCounter struct {
	cache.Source
	reads atomic.Int64
}

func (f *fallbackCounter) ReadPairs(ctx context.Context, shopID string, lookups []store.Lookup) ([][]store.Record, error) {
	f.reads.Add(1)
	return f.Source.ReadPairs(ctx, shopID, lookups)
}

// repairErrors is the number of repair steps that failed.
func repairErrors(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "featurestore_cache_writes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["op"] == "repair" && labels["result"] == "error" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestLargeRepairKeepsOnlineReads marks many customers of one shop and a
// whole other shop for repair while Redis takes no writes (CLIENT PAUSE
// WRITE) but answers reads: the repair fails step after step, with no
// online read in between, and yet online reads of a cached customer are
// answered by Redis, its breaker closed, through the rest of the repair.
// Once Redis takes writes again, exactly the marked hashes are removed,
// then their marks.
func TestLargeRepairKeepsOnlineReads(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	st := store.New(pool)
	if _, err := st.SeedFeatureRows(ctx, "online", 1, 20); err != nil {
		t.Fatal(err)
	}
	redisSrv := testenv.StartRedis(t)
	opts, err := redis.ParseURL(redisSrv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	const (
		marked, unmarked = 900, 100 // customers of shop "many"
		wholeShop        = 5000     // customers of shop "all"
	)
	pipe := rdb.Pipeline()
	hash := func(shop string, n int) string { return cache.Key(shop, "c"+strconv.Itoa(n)) }
	for n := range marked + unmarked {
		pipe.HSet(ctx, hash("many", n), "", "1", "p", "0000000000000001")
	}
	for n := range wholeShop {
		pipe.HSet(ctx, hash("all", n), "", "1", "p", "0000000000000001")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	cfg := cache.DefaultConfig(redisSrv.URL())
	// A budget that holds on a busy machine: what this test shows is that
	// repairs do not count against it, however long they fail.
	cfg.Timeout, cfg.PollInterval, cfg.RepairTimeout = time.Second, 50*time.Millisecond, 200*time.Millisecond
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	src := &fallbackCounter{Source: st}
	c, err := cache.New(ctx, src, cfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lookup := []store.Lookup{{CustomerID: "gid://shopify/Customer/0", ProductIDs: []string{"gid://shopify/Product/0", "gid://shopify/Product/1"}}}
	if _, err := c.ReadPairs(ctx, "online", lookup); err != nil { // fills the customer
		t.Fatal(err)
	}

	const pause = 6 * time.Second
	if err := rdb.Do(ctx, "CLIENT", "PAUSE", pause.Milliseconds(), "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	var customers []string
	for n := range marked {
		customers = append(customers, "c"+strconv.Itoa(n))
	}
	if _, err := st.MarkCache(ctx, "many", customers, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkCache(ctx, "all", nil, 1000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three repair steps to fail", func() bool { return repairErrors(t, reg) >= 3 })
	fallbacksBefore := src.reads.Load()
	reads := 0
	for time.Since(paused) < pause || countMarks(t, pool) > 0 {
		if _, err := c.ReadPairs(ctx, "online", lookup); err != nil {
			t.Fatal(err)
		}
		reads++
		if cache.BreakerOpen(c) {
			t.Fatalf("the online breaker opened during the repair, after %d reads", reads)
		}
		if time.Since(paused) > pause+time.Minute {
			t.Fatalf("%d marks left a minute after redis took writes again", countMarks(t, pool))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := src.reads.Load() - fallbacksBefore; n != 0 {
		t.Errorf("%d of %d online reads fell back to postgres during the repair, want none", n, reads)
	}
	left := func(shop string, from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			if rdb.Exists(ctx, hash(shop, i)).Val() == 1 {
				n++
			}
		}
		return n
	}
	if n := left("many", 0, marked); n != 0 {
		t.Errorf("%d of %d marked hashes of shop many left after the repair", n, marked)
	}
	if n := left("many", marked, marked+unmarked); n != unmarked {
		t.Errorf("%d of %d unmarked hashes of shop many kept, want all", n, unmarked)
	}
	if n := left("all", 0, wholeShop); n != 0 {
		t.Errorf("%d of %d hashes of the shop marked whole left after the repair", n, wholeShop)
	}
}
