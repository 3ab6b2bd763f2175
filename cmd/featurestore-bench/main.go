// Command featurestore-bench measures featurestore against real Postgres
// and Redis and prints medians and ratios. Each measurement is set beside
// its floor (what Postgres or Redis alone take for the same data) in the
// same run, because absolute times on a shared machine mean little.
// `make bench` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
)

type options struct {
	adminURL string
	binary   string
	events   []int
	rounds   int
	database string
	redisURL string
	only     []string
}

func main() {
	if served, err := runFloorIfAsked(); served {
		fmt.Fprintln(os.Stderr, "featurestore-bench floor server:", err)
		os.Exit(1)
	}
	var (
		o      options
		events string
	)
	flag.StringVar(&o.adminURL, "database-url", os.Getenv("DATABASE_URL"), "Postgres URL of a role that may create databases (env DATABASE_URL)")
	flag.StringVar(&o.binary, "featurestore", ".bin/featurestore", "featurestore binary to run as the server under test")
	flag.StringVar(&events, "events", "200000,2000000", "comma-separated shop sizes in events; peak memory is compared across them")
	flag.IntVar(&o.rounds, "rounds", 3, "measurements per case; the median is reported")
	flag.StringVar(&o.database, "database", "featurestore_bench", "database that holds the seeded benchmark shops (kept between runs)")
	flag.StringVar(&o.redisURL, "redis-url", os.Getenv("REDIS_URL"), "Redis URL for the benchmarks that use the cache (env REDIS_URL)")
	only := flag.String("only", "", "comma-separated benchmark names to run (default: all)")
	flag.Parse()
	if *only != "" {
		o.only = strings.Split(*only, ",")
	}
	for _, s := range strings.Split(events, ",") {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "featurestore-bench: --events: %q is not a positive number\n", s)
			os.Exit(2)
		}
		o.events = append(o.events, n)
	}
	if o.adminURL == "" {
		fmt.Fprintln(os.Stderr, "featurestore-bench: --database-url (or DATABASE_URL) is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "featurestore-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	url, err := ensureDatabase(ctx, o.adminURL, o.database)
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool, quietLogger()); err != nil {
		return err
	}
	fmt.Printf("featurestore benchmarks (%d rounds per case, medians; database %s)\n", o.rounds, o.database)
	for _, b := range benchmarks {
		if len(o.only) > 0 && !slices.Contains(o.only, b.name) {
			continue
		}
		if err := b.run(ctx, env{pool: pool, st: store.New(pool), url: url, opts: o}); err != nil {
			return fmt.Errorf("%s benchmark: %w", b.name, err)
		}
	}
	return nil
}

// env is what every benchmark gets: the benchmark database, as a pool and
// as a store over it, and the options.
type env struct {
	pool *pgxpool.Pool
	st   *store.Store
	url  string
	opts options
}

// benchmark is one end-to-end benchmark; each file registers its own.
type benchmark struct {
	name string
	run  func(ctx context.Context, e env) error
}

var benchmarks []benchmark

// register adds a benchmark; benchmarks run in the order of their files.
func register(name string, run func(ctx context.Context, e env) error) {
	benchmarks = append(benchmarks, benchmark{name: name, run: run})
}

// ensureDatabase creates the benchmark database when missing and returns its URL.
func ensureDatabase(ctx context.Context, adminURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	cfg := conn.Config()
	if cfg.Database == "" {
		return "", errors.New("the admin URL names no database")
	}
	return store.SwapDatabase(adminURL, cfg.Database, name), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
