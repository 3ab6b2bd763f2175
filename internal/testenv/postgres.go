package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
)

// dbCounter makes database names unique within one test binary; the pid
// makes them unique across the binaries that go test runs in parallel.
var dbCounter atomic.Int64

// require returns the environment variable name's value, or skips (outside
// CI) or fails (in CI) the test when it is empty.
func require(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set: CI must run tests against a real service (make test sets it)", name)
	}
	t.Skipf("%s is not set: run `make test` to start the services and run this test", name)
	return ""
}

// DatabaseURL returns the URL of a new, empty database that is dropped when
// the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	admin := require(t, "DATABASE_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("fs_test_%d_%d", os.Getpid(), dbCounter.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("connect to drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	return store.SwapDatabase(admin, cfg.Database, name)
}

// Postgres returns a pool on a new, migrated database that is dropped when
// the test ends, and the database's URL.
func Postgres(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := store.Open(ctx, url)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	// Registered after the database's cleanup, so it runs first.
	t.Cleanup(pool.Close)
	if _, err := store.Migrate(ctx, pool, Logger()); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return pool, url
}

// Logger returns a logger that discards everything; tests that want logs
// build their own.
func Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
