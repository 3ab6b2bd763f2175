package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

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
}

func envString(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string, def bool) bool {
	if v, ok := os.LookupEnv(name); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(name); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// databaseFlags registers the settings every command that touches the
// database shares.
func (c *config) databaseFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DatabaseURL, "database-url", envString("DATABASE_URL", ""), "Postgres URL, e.g. postgres://user@host:5432/db (env DATABASE_URL)")
	fs.StringVar(&c.LogLevel, "log-level", envString("FEATURESTORE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env FEATURESTORE_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", envString("FEATURESTORE_LOG_FORMAT", "text"), "log format: text or json (env FEATURESTORE_LOG_FORMAT)")
}

// serveFlags registers the server's settings.
func (c *config) serveFlags(fs *flag.FlagSet) {
	c.databaseFlags(fs)
	fs.StringVar(&c.RedisURL, "redis-url", envString("REDIS_URL", ""), "Redis URL for the online cache; empty runs without a cache (env REDIS_URL)")
	fs.StringVar(&c.Addr, "addr", envString("FEATURESTORE_ADDR", "127.0.0.1:50051"), "gRPC listen address (env FEATURESTORE_ADDR)")
	fs.BoolVar(&c.Migrate, "migrate", envBool("FEATURESTORE_MIGRATE", true), "apply database migrations at start (env FEATURESTORE_MIGRATE)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", envDuration("FEATURESTORE_SHUTDOWN_GRACE", 15*time.Second), "how long in-flight calls may finish after SIGINT/SIGTERM (env FEATURESTORE_SHUTDOWN_GRACE)")
	fs.DurationVar(&c.HealthInterval, "health-interval", envDuration("FEATURESTORE_HEALTH_INTERVAL", 2*time.Second), "how often health pings the database (env FEATURESTORE_HEALTH_INTERVAL)")
}

// validate checks the settings, naming the first bad one.
func (c *config) validate() error {
	if c.DatabaseURL == "" {
		return fmt.Errorf("%w: --database-url (or DATABASE_URL) is required", errUsage)
	}
	if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
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
	if c.HealthInterval <= 0 {
		return fmt.Errorf("%w: --health-interval must be positive", errUsage)
	}
	return nil
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

// openDatabase connects to the configured database.
func (c *config) openDatabase(ctx context.Context) (*pgxpool.Pool, error) {
	pool, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return pool, nil
}
