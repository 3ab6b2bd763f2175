package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestPinger pings on a connection of its own while every connection of a
// pool is taken, and connects again after its connection is killed.
func TestPinger(t *testing.T) {
	_, url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	busy, err := store.Open(ctx, url, store.WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	conn, err := busy.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()

	p, err := store.NewPinger(url)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	var killed bool
	err = conn.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'featurestore/health'`).Scan(&killed)
	if err != nil || !killed {
		t.Fatalf("kill the ping's connection: %v %v", killed, err)
	}
	// The ping after the kill may fail; the one after it connects again.
	_ = p.Ping(ctx)
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("ping after its connection was killed: %v", err)
	}
}
