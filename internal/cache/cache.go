package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/featurestore/featurestore/internal/tracing"
)

// Config is a Cache's settings.
type Config struct {
	// URL is a redis:// or rediss:// URL. In ModeCluster it names seed
	// nodes of the cluster, in the form of go-redis' ParseClusterURL:
	// redis://host1:port?addr=host2:port&addr=host3:port
	URL string
	// Mode is ModeSingle (the default when empty) or ModeCluster.
	Mode Mode
	// TTL is how long a customer's hash lives after its last write.
	TTL time.Duration
	// Timeout bounds each Redis round trip of a read or write; past it the
	// read goes to Postgres.
	Timeout time.Duration
	// BreakerThreshold failures in a row open the breaker for
	// BreakerCooldown, doubling on each failed probe up to 30 s.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// PollInterval is how often this process reads the shared record of
	// hashes to repair (cache_marks): the longest a write-through that
	// failed in another process goes unseen here.
	PollInterval time.Duration
	// RepairTimeout bounds each step of a repair, which runs on its own
	// connections and outside the breaker of online reads.
	RepairTimeout time.Duration
	// Registerer, if not nil, receives the cache's metrics.
	Registerer prometheus.Registerer
	// TracerProvider, if not nil, receives a span of every command of
	// online reads and writes, and of every fill. Without it the cache
	// installs no tracing at all.
	TracerProvider trace.TracerProvider
}

// DefaultConfig returns the defaults for url.
func DefaultConfig(url string) Config {
	return Config{URL: url, Mode: ModeSingle, TTL: 24 * time.Hour, Timeout: 50 * time.Millisecond, BreakerThreshold: 3, BreakerCooldown: time.Second,
		PollInterval: time.Second, RepairTimeout: time.Second}
}

// Validate names the first bad setting.
func (c Config) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("cache: URL (the redis url) is empty")
	case c.TTL < time.Second:
		return fmt.Errorf("cache: TTL %s is shorter than one second", c.TTL)
	case c.Timeout <= 0:
		return fmt.Errorf("cache: Timeout must be positive, got %s", c.Timeout)
	case c.BreakerThreshold < 1:
		return fmt.Errorf("cache: BreakerThreshold must be at least 1, got %d", c.BreakerThreshold)
	case c.BreakerCooldown <= 0:
		return fmt.Errorf("cache: BreakerCooldown must be positive, got %s", c.BreakerCooldown)
	case c.PollInterval <= 0:
		return fmt.Errorf("cache: PollInterval must be positive, got %s", c.PollInterval)
	case c.RepairTimeout <= 0:
		return fmt.Errorf("cache: RepairTimeout must be positive, got %s", c.RepairTimeout)
	}
	if err := checkURL(c.mode(), c.URL); err != nil {
		return fmt.Errorf("cache: URL (mode %s): %w", c.mode(), err)
	}
	return nil
}

// mode is the configured mode, ModeSingle when none is.
func (c Config) mode() Mode {
	if c.Mode == "" {
		return ModeSingle
	}
	return c.Mode
}

// redactURLError drops the URL from a URL parse error, which quotes it
// whole, password included; what is wrong with it stays.
func redactURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// Cache is the online read path with Redis in front of a Source: it
// implements the Source's ReadPairs (reader.go), writes compute runs
// through (writethrough.go), and repairs the hashes whose write-through
// failed (marks.go). Its Redis connection, breaker and counters are shared
// by every online operation; repairs have connections of their own.
type Cache struct {
	source     Source
	rdb        redis.UniversalClient
	repairRdb  redis.UniversalClient
	cfg        Config
	flights    singleflight.Group
	breaker    *breaker
	marks      *markSet
	repairWake chan struct{}
	logger     *slog.Logger
	tracer     trace.Tracer // nil: not traced
	replies    replyBuffers
	stop       context.CancelFunc
	loops      sync.WaitGroup

	lookups *prometheus.CounterVec
	// hits, misses and fallbacks are lookups' series, looked up once.
	hits, misses, fallbacks prometheus.Counter
	writes                  *prometheus.CounterVec
	breakerG                prometheus.GaugeFunc
}

// New returns a cache in front of src and connects it to Redis. It does not
// fail when Redis is down: the cache then starts with its breaker open and
// reads go to src until Redis answers. Before it returns it reads the
// shared record of hashes to repair, so that it serves none of them, and
// fails when it cannot. The caller must Close it.
func New(ctx context.Context, src Source, cfg Config, logger *slog.Logger) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A cache must fail fast, so a slow Redis costs a read at most the
	// timeout before it falls back.
	online := tuning{dial: max(2*cfg.Timeout, 100*time.Millisecond), readWrite: cfg.Timeout, pool: cfg.Timeout, poolSize: 8 * runtime.GOMAXPROCS(0)}
	// Repairs get two connections of their own (per node of a cluster) and
	// their own budget, so that a long repair neither waits behind nor
	// starves online reads.
	repair := tuning{dial: max(cfg.RepairTimeout, online.dial), readWrite: cfg.RepairTimeout, pool: cfg.RepairTimeout, poolSize: 2, noIdle: true}
	rdb, err := newClient(cfg.mode(), cfg.URL, online)
	if err != nil {
		return nil, fmt.Errorf("cache: redis url: %w", err)
	}
	repairRdb, err := newClient(cfg.mode(), cfg.URL, repair)
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("cache: redis url: %w", err)
	}
	c := &Cache{
		source:     src,
		rdb:        rdb,
		repairRdb:  repairRdb,
		cfg:        cfg,
		breaker:    newBreaker(cfg.BreakerThreshold, cfg.BreakerCooldown, 30*time.Second),
		marks:      newMarkSet(),
		repairWake: make(chan struct{}, 1),
		logger:     logger,
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "featurestore", Subsystem: "cache", Name: "lookups_total",
			Help: "Pairs looked up online, by result: hit (answered by Redis), miss (customer filled from Postgres), fallback (Redis failed or its breaker was open; answered by Postgres).",
		}, []string{"result"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "featurestore", Subsystem: "cache", Name: "writes_total",
			Help: "Cache write operations (fills and compute write-throughs), by result.",
		}, []string{"op", "result"}),
	}
	if cfg.TracerProvider != nil {
		// Repairs run in the background, outside any traced call; their
		// connections are not traced.
		if err := tracing.InstrumentRedis(cfg.TracerProvider, c.rdb); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		c.tracer = cfg.TracerProvider.Tracer("github.com/featurestore/featurestore/internal/cache")
	}
	c.hits, c.misses, c.fallbacks = c.lookups.WithLabelValues("hit"), c.lookups.WithLabelValues("miss"), c.lookups.WithLabelValues("fallback")
	c.breakerG = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "featurestore", Subsystem: "cache", Name: "breaker_open",
		Help: "1 while the Redis breaker is open and reads bypass Redis.",
	}, func() float64 {
		if c.breaker.open() {
			return 1
		}
		return 0
	})
	marksG := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "featurestore", Subsystem: "cache", Name: "marks",
		Help: "Customers (or whole shops) whose cached hashes this process distrusts until they are repaired.",
	}, func() float64 { return float64(c.marks.count.Load()) })
	if cfg.Registerer != nil {
		for _, col := range []prometheus.Collector{c.lookups, c.writes, c.breakerG, marksG, newPoolCollector(c.rdb)} {
			if err := cfg.Registerer.Register(col); err != nil {
				c.rdb.Close()
				c.repairRdb.Close()
				return nil, fmt.Errorf("cache: register metrics: %w", err)
			}
		}
	}
	pingCtx, cancel := context.WithTimeout(ctx, min(online.dial+cfg.Timeout, 5*time.Second))
	defer cancel()
	if err := c.rdb.Ping(pingCtx).Err(); err != nil {
		logger.Warn("redis does not answer; reads go to postgres until it does", "error", err)
		c.breaker.trip()
	}
	if err := c.poll(ctx); err != nil {
		c.rdb.Close()
		c.repairRdb.Close()
		return nil, fmt.Errorf("cache: read the record of hashes to repair: %w", err)
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c.stop = stop
	c.loops.Add(2)
	go func() { defer c.loops.Done(); c.pollLoop(loopCtx) }()
	go func() { defer c.loops.Done(); c.repairLoop(loopCtx) }()
	return c, nil
}

// Close stops the background loops and closes the Redis connections.
func (c *Cache) Close() error {
	c.stop()
	c.loops.Wait()
	return errors.Join(c.rdb.Close(), c.repairRdb.Close())
}

// call runs fn against Redis within its budget, unless the breaker is open,
// and records the outcome in the breaker. The budget is the configured
// timeout, or half of what remains of the caller's deadline if that is
// less, so a slow Redis leaves the caller time to read Postgres instead. A
// Redis that runs out of its budget has failed; a caller that gave up is
// not Redis' fault and leaves the breaker's counts alone.
func (c *Cache) call(ctx context.Context, fn func(ctx context.Context) error) error {
	if !c.breaker.allow() {
		return errBreakerOpen
	}
	budget := c.cfg.Timeout
	if deadline, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(deadline)/2)
	}
	if budget <= 0 {
		c.breaker.release()
		return context.DeadlineExceeded
	}
	cctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	err := fn(cctx)
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		c.breaker.success()
		return nil
	case ctx.Err() != nil:
		c.breaker.release()
		return ctx.Err()
	}
	reloadTopology(ctx, c.rdb)
	if c.breaker.failure() {
		c.logger.Warn("redis failing; breaker open, reads go to postgres", "error", err)
	}
	return err
}

var errBreakerOpen = errors.New("redis breaker open")

// poolStatser is the part of a Redis client that reports on its
// connection pool (every node's, for a cluster client).
type poolStatser interface{ PoolStats() *redis.PoolStats }

// poolCollector exports the Redis connection pool's state.
type poolCollector struct {
	rdb                           poolStatser
	hits, misses, timeouts, total *prometheus.Desc
	idle                          *prometheus.Desc
}

func newPoolCollector(rdb poolStatser) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("featurestore_redis_pool_"+name, help, nil, nil)
	}
	return &poolCollector{rdb: rdb,
		hits:     d("hits_total", "Times a free connection was found in the pool."),
		misses:   d("misses_total", "Times no free connection was found in the pool."),
		timeouts: d("timeouts_total", "Times a wait for a connection timed out."),
		total:    d("connections", "Connections in the pool."),
		idle:     d("idle_connections", "Idle connections in the pool."),
	}
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.hits
	ch <- p.misses
	ch <- p.timeouts
	ch <- p.total
	ch <- p.idle
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.rdb.PoolStats()
	ch <- prometheus.MustNewConstMetric(p.hits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(p.misses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(p.timeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(p.total, prometheus.GaugeValue, float64(s.TotalConns))
	ch <- prometheus.MustNewConstMetric(p.idle, prometheus.GaugeValue, float64(s.IdleConns))
}
