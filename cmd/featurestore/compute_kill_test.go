package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestKilledComputeLeavesPreviousRows kills (SIGKILL) a compute process
// while its FULL run has written rows of the shop and not committed them:
// the shop's rows are exactly the previous run's, and the next run goes
// ahead.
func TestKilledComputeLeavesPreviousRows(t *testing.T) {
	t.Parallel()
	pool, url := testenv.GoldenPostgres(t)
	ctx := context.Background()
	args := []string{"--shop", "shop-0", "--log-level", "error", "--redis-url", ""}
	if err := runCompute(ctx, append([]string{"--database-url", url, "--as-of", "2025-03-01T00:00:00Z"}, args...)); err != nil {
		t.Fatal(err)
	}
	before := testenv.StoredRows(t, pool, "shop-0")

	const app = "featurestore-killed"
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	p := startBinary(t, append([]string{"compute", "--database-url", url + sep + "application_name=" + app,
		"--as-of", "2025-06-01T00:00:00Z", "--batch-size", "1", "--compute-workers", "1"}, args...)...)
	sessions := func(where string) int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 AND `+where, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The run's transaction has copied rows into the table.
	testenv.WaitFor(t, time.Minute, "the run to copy rows", func() bool {
		select {
		case <-p.done:
			t.Fatalf("compute ended before it could be killed: %s", p.stderr.String())
		default:
		}
		return sessions(`xact_start IS NOT NULL AND query ILIKE 'copy%interaction_features%'`) > 0
	})
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	testenv.WaitFor(t, time.Minute, "Postgres to end the killed process' sessions", func() bool { return sessions("true") == 0 })

	if after := testenv.StoredRows(t, pool, "shop-0"); !slices.EqualFunc(after, before, sameStoredRow) {
		t.Fatalf("after the killed run the shop has %d rows, not the previous run's %d exactly", len(after), len(before))
	}
	if err := runCompute(ctx, append([]string{"--database-url", url, "--as-of", "2025-06-01T00:00:00Z"}, args...)); err != nil {
		t.Fatalf("the run after the killed one: %v", err)
	}
	var status string
	if err := pool.QueryRow(ctx, `SELECT status FROM feature_runs WHERE shop_id = 'shop-0' ORDER BY id OFFSET 1 LIMIT 1`).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "abandoned" {
		t.Errorf("the killed run is recorded %q, want abandoned", status)
	}
}

// sameStoredRow compares two rows, their instants by value.
func sameStoredRow(a, b store.StoredRow) bool {
	return a.CustomerID == b.CustomerID && a.ProductID == b.ProductID && a.Vector == b.Vector &&
		a.AsOf.Equal(b.AsOf) && a.ComputedAt.Equal(b.ComputedAt) && a.Version == b.Version
}
