package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
)

// ReplicaPostgres returns, like Postgres, a pool on a new migrated
// database of DATABASE_URL and its URL, and a pool on the same database
// as a streaming replica of that server (DATABASE_READ_URL) replays it,
// and its URL, once the replica has it. It skips the test when
// DATABASE_READ_URL is not set, in CI too: a replica is started only for
// the runs that test the read path (make services PG=replica).
//
// Tests that pause the replica's replay (SetReplay) pause it for every
// database of the server: they must not run in parallel with each other,
// in one package or in several (go test -p 1).
func ReplicaPostgres(t testing.TB) (primary *pgxpool.Pool, primaryURL string, replica *pgxpool.Pool, replicaURL string) {
	t.Helper()
	readURL := os.Getenv("DATABASE_READ_URL")
	if readURL == "" {
		t.Skip("DATABASE_READ_URL is not set: these tests need a streaming replica of DATABASE_URL's server; run them with `eval \"$(PG=replica scripts/services.sh)\"` (make services PG=replica)")
	}
	primary, primaryURL = Postgres(t)
	cfg, err := pgx.ParseConfig(primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	readCfg, err := pgx.ParseConfig(readURL)
	if err != nil {
		t.Fatalf("parse DATABASE_READ_URL: %v", err)
	}
	replicaURL = store.SwapDatabase(readURL, readCfg.Database, cfg.Database)
	// The new database reaches the replica when it has replayed its
	// creation; until then, connections to it fail.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		replica, err = store.Open(ctx, replicaURL)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica of DATABASE_READ_URL does not have the test database after two minutes: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Closed before the database is dropped on the primary.
	t.Cleanup(replica.Close)
	return primary, primaryURL, replica, replicaURL
}

// SetReplay pauses (pause true) or resumes the replay of the streaming
// replica that pool reaches, and waits until it has. A test that pauses it
// must resume it (in a cleanup), or every database of the server stays
// behind.
func SetReplay(t testing.TB, pool *pgxpool.Pool, pause bool) {
	t.Helper()
	fn, state := "pg_wal_replay_resume", "not paused"
	if pause {
		fn, state = "pg_wal_replay_pause", "paused"
	}
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `SELECT `+fn+`()`); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 2*time.Minute, "the replica's replay is "+state, func() bool {
		var got string
		if err := pool.QueryRow(ctx, `SELECT pg_get_wal_replay_pause_state()`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got == state
	})
}
