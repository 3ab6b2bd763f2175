package compute_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/demo"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestRunRefreshesStatisticsOfANewShop runs a shop's first FULL run, which
// writes tens of thousands of rows that the table's statistics do not know:
// the run must leave statistics that do (an ANALYZE), so that every later
// query plans for the shop's real size; a second run of the same shop
// changes no estimate and must not analyse again.
func TestRunRefreshesStatisticsOfANewShop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testenv.Postgres(t)
	// Autovacuum would analyse the table at a time of its own choosing.
	if _, err := pool.Exec(ctx, `ALTER TABLE interaction_features SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	cfg := demo.DefaultConfig()
	if _, err := demo.Seed(ctx, store.New(pool), cfg, nil); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, pool, nil)

	sum := mustRun(t, e, compute.Request{ShopID: cfg.ShopID, AsOf: cfg.End, Mode: compute.Full})
	if sum.PairsWritten <= 10_000 {
		t.Fatalf("the run wrote %d rows; the test needs a shop of more than 10,000", sum.PairsWritten)
	}
	estimate, analyses := shopStatistics(t, pool, cfg.ShopID)
	if estimate < float64(sum.PairsWritten)/2 || analyses != 1 {
		t.Errorf("after the shop's first run of %d rows: the planner estimates %.0f rows for it, interaction_features analysed %d times; want an estimate near %d after one ANALYZE",
			sum.PairsWritten, estimate, analyses, sum.PairsWritten)
	}

	mustRun(t, e, compute.Request{ShopID: cfg.ShopID, AsOf: cfg.End, Mode: compute.Full})
	if _, again := shopStatistics(t, pool, cfg.ShopID); again != analyses {
		t.Errorf("a second run of an analysed shop analysed the table again (%d times, was %d)", again, analyses)
	}
}

// shopStatistics returns the planner's estimate of the shop's rows in
// interaction_features, and how often the table has been analysed.
func shopStatistics(t *testing.T, pool *pgxpool.Pool, shopID string) (float64, int64) {
	t.Helper()
	ctx := context.Background()
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	if err := pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM interaction_features WHERE shop_id = $1`, shopID).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var analyses int64
	if err := pool.QueryRow(ctx, `SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'interaction_features'`).Scan(&analyses); err != nil {
		t.Fatal(err)
	}
	return plan[0].Plan.Rows, analyses
}
