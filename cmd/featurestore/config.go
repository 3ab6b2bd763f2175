package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/refresh"
	"github.com/featurestore/featurestore/internal/store"
)

// config is every setting of the binary, filled from flags whose defaults
// come from the environment, and validated before anything starts.
type config struct {
	DatabaseURL string
	RedisURL    string
	Addr        string
	LogLevel    string
	LogFormat   string

	// serve
	Migrate        bool
	ShutdownGrace  time.Duration
	HealthInterval time.Duration
	MetricsAddr    string
	CacheTTL       time.Duration
	CacheTimeout   time.Duration
	CachePoll      time.Duration
	HTTP           httpConfig
	Security       securityConfig
	Bulk           bulkConfig
	Replica        replicaConfig

	// compute runs, in serve and compute
	ComputeWorkers int

	// serve: the scheduled refresh
	RefreshInterval     time.Duration
	FullRefreshInterval time.Duration

	// serving and computing say which settings were registered, and so are
	// validated: a command that does not serve has no health interval.
	serving, computing bool
	// envErrs collects environment variables whose values do not parse; a
	// command refuses to start while there is one (validate reports them),
	// rather than quietly using the default in its place.
	envErrs []error
}

func envString(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// envParsed returns the value of the environment variable name parsed, or
// def when it is not set. A value that does not parse is recorded in
// *errs, and def returned in its place.
func envParsed[T any](errs *[]error, name string, def T, parse func(string) (T, error), want string) T {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	x, err := parse(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%w: environment variable %s=%q is not %s", errUsage, name, v, want))
		return def
	}
	return x
}

func (c *config) envBool(name string, def bool) bool {
	return envParsed(&c.envErrs, name, def, strconv.ParseBool, "a boolean (true or false)")
}

func (c *config) envInt(name string, def int) int {
	return envParsed(&c.envErrs, name, def, strconv.Atoi, "an integer")
}

func (c *config) envFloat(name string, def float64) float64 {
	return envParsed(&c.envErrs, name, def, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }, "a number")
}

func (c *config) envDuration(name string, def time.Duration) time.Duration {
	return envParsed(&c.envErrs, name, def, time.ParseDuration, "a duration such as 30s or 24h")
}

// databaseFlags registers the settings every command that touches the
// database shares.
func (c *config) databaseFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DatabaseURL, "database-url", envString("DATABASE_URL", ""), "Postgres URL, e.g. postgres://user@host:5432/db (env DATABASE_URL)")
	fs.StringVar(&c.LogLevel, "log-level", envString("FEATURESTORE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env FEATURESTORE_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", envString("FEATURESTORE_LOG_FORMAT", "text"), "log format: text or json (env FEATURESTORE_LOG_FORMAT)")
}

// computeFlags registers the settings of compute runs, which serve and
// compute share.
func (c *config) computeFlags(fs *flag.FlagSet) {
	c.computing = true
	fs.IntVar(&c.ComputeWorkers, "compute-workers", c.envInt("FEATURESTORE_COMPUTE_WORKERS", runtime.NumCPU()),
		"customer ranges a compute run scans and computes at once, each on two Postgres connections (env FEATURESTORE_COMPUTE_WORKERS)")
}

// serveFlags registers the server's settings.
func (c *config) serveFlags(fs *flag.FlagSet) {
	c.serving = true
	c.databaseFlags(fs)
	c.computeFlags(fs)
	fs.DurationVar(&c.RefreshInterval, "refresh-interval", c.envDuration("FEATURESTORE_REFRESH_INTERVAL", 0),
		"how often to run INCREMENTAL for every shop with changes (and FULL where due); 0 turns the scheduled refresh off (env FEATURESTORE_REFRESH_INTERVAL)")
	fs.DurationVar(&c.FullRefreshInterval, "full-refresh-interval", c.envDuration("FEATURESTORE_FULL_REFRESH_INTERVAL", 24*time.Hour),
		"with --refresh-interval, the longest a shop goes without a FULL run, which keeps time-dependent features such as recency current; 0: never (env FEATURESTORE_FULL_REFRESH_INTERVAL)")
	c.cacheFlags(fs)
	fs.StringVar(&c.Addr, "addr", envString("FEATURESTORE_ADDR", "127.0.0.1:50051"), "gRPC listen address (env FEATURESTORE_ADDR)")
	fs.BoolVar(&c.Migrate, "migrate", c.envBool("FEATURESTORE_MIGRATE", true), "apply database migrations at start (env FEATURESTORE_MIGRATE)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.envDuration("FEATURESTORE_SHUTDOWN_GRACE", 15*time.Second), "how long in-flight calls may finish after SIGINT/SIGTERM (env FEATURESTORE_SHUTDOWN_GRACE)")
	fs.DurationVar(&c.HealthInterval, "health-interval", c.envDuration("FEATURESTORE_HEALTH_INTERVAL", 2*time.Second), "how often health pings the database (env FEATURESTORE_HEALTH_INTERVAL)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", envString("FEATURESTORE_METRICS_ADDR", "127.0.0.1:9092"), "listen address of Prometheus /metrics and /debug/pprof; empty disables both (env FEATURESTORE_METRICS_ADDR)")
	c.HTTP.flags(fs, c)
	c.Security.flags(fs, c)
	c.Bulk.flags(fs, c)
	c.Replica.flags(fs, c)
}

// cacheFlags registers the online cache's settings, which serve and
// compute share: every process that writes interaction_features writes
// through to the cache the servers read.
func (c *config) cacheFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.RedisURL, "redis-url", envString("REDIS_URL", ""), "Redis URL for the online cache; empty runs without a cache (env REDIS_URL)")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", c.envDuration("FEATURESTORE_CACHE_TTL", 24*time.Hour), "how long a cached customer lives after its last write (env FEATURESTORE_CACHE_TTL)")
	fs.DurationVar(&c.CacheTimeout, "cache-timeout", c.envDuration("FEATURESTORE_CACHE_TIMEOUT", 50*time.Millisecond), "Redis budget per round trip before a read falls back to Postgres (env FEATURESTORE_CACHE_TIMEOUT)")
	fs.DurationVar(&c.CachePoll, "cache-poll-interval", c.envDuration("FEATURESTORE_CACHE_POLL_INTERVAL", time.Second),
		"how often the record of cached hashes to repair is read: the longest a write-through that failed elsewhere goes unseen (env FEATURESTORE_CACHE_POLL_INTERVAL)")
}

// cacheConfig returns the cache settings, or false when no Redis is set.
func (c *config) cacheConfig() (cache.Config, bool) {
	if c.RedisURL == "" {
		return cache.Config{}, false
	}
	cc := cache.DefaultConfig(c.RedisURL)
	cc.TTL, cc.Timeout, cc.PollInterval = c.CacheTTL, c.CacheTimeout, c.CachePoll
	return cc, true
}

// computeConfig returns the settings of compute runs.
func (c *config) computeConfig() compute.Config {
	cc := compute.DefaultConfig()
	cc.Workers = c.ComputeWorkers
	return cc
}

// refreshConfig returns the settings of the scheduled refresh, or false
// when it is off.
func (c *config) refreshConfig() (refresh.Config, bool) {
	return refresh.Config{Interval: c.RefreshInterval, FullInterval: c.FullRefreshInterval}, c.RefreshInterval > 0
}

// parse reads a command's flags from args, then validates the settings:
// every command starts so.
func (c *config) parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return c.validate()
}

// validate checks the settings, naming the first bad one; an environment
// variable that did not parse comes first.
func (c *config) validate() error {
	if len(c.envErrs) > 0 {
		return errors.Join(c.envErrs...)
	}
	if c.DatabaseURL == "" {
		return fmt.Errorf("%w: --database-url (or DATABASE_URL) is required", errUsage)
	}
	if err := store.CheckURL(c.DatabaseURL); err != nil {
		return fmt.Errorf("%w: --database-url is not a valid Postgres URL", errUsage)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("%w: --log-format must be text or json, not %q", errUsage, c.LogFormat)
	}
	if c.ShutdownGrace < 0 {
		return fmt.Errorf("%w: --shutdown-grace must not be negative", errUsage)
	}
	if cc, ok := c.cacheConfig(); ok {
		if err := cc.Validate(); err != nil {
			return fmt.Errorf("%w: --redis-url / --cache-*: %v", errUsage, err)
		}
	}
	if c.serving && c.HealthInterval <= 0 {
		return fmt.Errorf("%w: --health-interval must be positive", errUsage)
	}
	if c.serving {
		if err := c.Bulk.validate(); err != nil {
			return err
		}
		if err := c.Replica.validate(); err != nil {
			return err
		}
	}
	if c.computing && c.ComputeWorkers < 1 {
		return fmt.Errorf("%w: --compute-workers (or FEATURESTORE_COMPUTE_WORKERS) must be a whole number of at least 1", errUsage)
	}
	if c.computing {
		if err := c.computeConfig().Validate(); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	if c.RefreshInterval < 0 || c.FullRefreshInterval < 0 {
		return fmt.Errorf("%w: --refresh-interval and --full-refresh-interval must not be negative", errUsage)
	}
	if rc, ok := c.refreshConfig(); ok {
		if err := rc.Validate(); err != nil {
			return fmt.Errorf("%w: --refresh-interval / --full-refresh-interval: %v", errUsage, err)
		}
	}
	if c.serving {
		if err := c.Security.validate(c.Addr, c.HTTP.Addr); err != nil {
			return err
		}
	}
	return c.HTTP.validate()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("%w: --log-level must be debug, info, warn or error, not %q", errUsage, s)
	}
	return l, nil
}

func (c *config) logger() *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// openDatabase connects to the configured database and returns its store
// and the function that closes the connections, which the caller must
// call once done with the store.
func (c *config) openDatabase(ctx context.Context) (*store.Store, func(), error) {
	pool, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("database: %w", err)
	}
	return store.New(pool), pool.Close, nil
}
