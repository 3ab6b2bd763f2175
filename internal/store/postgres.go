package store

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Option adjusts the pool's configuration before it connects.
type Option func(*pgxpool.Config)

// WithTracer traces every query of the pool, e.g. to count them or to make
// spans of them. Tracers given by several options all see every query, in
// the order given.
func WithTracer(t pgx.QueryTracer) Option {
	return func(c *pgxpool.Config) {
		if prev := c.ConnConfig.Tracer; prev != nil {
			c.ConnConfig.Tracer = multitracer.New(prev, t)
			return
		}
		c.ConnConfig.Tracer = t
	}
}

// WithMaxConns sizes the pool to n connections, whatever the url says: a
// second pool on the same database, such as the one bulk reads have to
// themselves, has a size of its own.
func WithMaxConns(n int32) Option {
	return func(c *pgxpool.Config) {
		c.MaxConns = n
		c.MinConns = min(c.MinConns, n)
		c.MinIdleConns = min(c.MinIdleConns, n)
	}
}

// WithApplicationSuffix appends "/suffix" to the application_name of the
// pool's connections, so that pg_stat_activity tells its work apart.
func WithApplicationSuffix(suffix string) Option {
	return func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams["application_name"] += "/" + suffix }
}

// parseConfig parses url into the configuration every connection to the
// database has.
func parseConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may echo the password; say only what is wrong.
		return nil, fmt.Errorf("parse database url: %w", ErrBadURL)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	// JIT compilation pays off for long aggregations over many rows; the
	// queries here stream rows through index scans or probe a few, and the
	// planner's estimate of a scan of a large shop (or of a long list of
	// pairs) crosses jit_above_cost anyway. Compiling then costs 0.3 to 3
	// seconds of CPU per query, more than the whole of an incremental run's
	// reads, for no measurable gain on the rows. A URL that sets jit keeps
	// its choice.
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	// pgx's default of four connections on small machines is too few for a
	// server where a compute run alone holds several.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(16, 4*runtime.NumCPU()))
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "featurestore"
	}
	return cfg, nil
}

// Open connects a pool to the database at url. Every connection uses the UTC
// time zone, so timestamps without a zone read as UTC and day boundaries
// agree with the kernel's. Open fails when the database does not answer
// within the context's deadline (or ten seconds without one).
func Open(ctx context.Context, url string, opts ...Option) (*pgxpool.Pool, error) {
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, translate(fmt.Errorf("connect to postgres: %w", err))
	}
	return pool, nil
}

// CheckURL reports whether url is a database URL that Open can parse,
// without connecting. Its error wraps ErrBadURL and never echoes the URL,
// which may hold a password.
func CheckURL(url string) error {
	if _, err := pgxpool.ParseConfig(url); err != nil {
		return fmt.Errorf("parse database url: %w", ErrBadURL)
	}
	return nil
}

// SwapDatabase returns dsn (a URL or a keyword/value string) naming the
// database to instead of from.
func SwapDatabase(dsn, from, to string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		head, query, _ := strings.Cut(dsn, "?")
		scheme := strings.Index(head, "://") + len("://")
		if slash := strings.Index(head[scheme:], "/"); slash >= 0 {
			head = head[:scheme+slash]
		}
		out := head + "/" + to
		if query != "" {
			out += "?" + query
		}
		return out
	}
	if from != "" && strings.Contains(dsn, "dbname="+from) {
		return strings.Replace(dsn, "dbname="+from, "dbname="+to, 1)
	}
	return dsn + " dbname=" + to
}
