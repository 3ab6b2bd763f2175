package compute_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// shopAsOfs returns the distinct as_of of a shop's stored rows, and how
// many rows it has, in one statement: what one reader sees at once.
func shopAsOfs(ctx context.Context, pool *pgxpool.Pool, shop string) ([]time.Time, int, error) {
	var asOfs []time.Time
	var n int
	err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT as_of), '{}'), count(*) FROM interaction_features WHERE shop_id = $1`, shop).
		Scan(&asOfs, &n)
	return asOfs, n, err
}

// byPair indexes rows by their pair.
func byPair(rows []store.StoredRow) map[store.PairKey]store.StoredRow {
	out := make(map[store.PairKey]store.StoredRow, len(rows))
	for _, r := range rows {
		out[store.PairKey{CustomerID: r.CustomerID, ProductID: r.ProductID}] = r
	}
	return out
}

// TestFullRunAppearsAtOnce polls the shop's rows while a FULL run writes
// them, one row per batch: every read sees one as_of, the previous run's
// rows exactly until the run ends, and the new run's after it.
func TestFullRunAppearsAtOnce(t *testing.T) {
	t.Parallel()
	pool := goldenDB(t)
	ctx := context.Background()
	mustRun(t, newEngine(t, pool, nil), compute.Request{ShopID: "shop-0", AsOf: march, Mode: compute.Full})
	before := testenv.StoredRows(t, pool, "shop-0")

	stop := make(chan struct{})
	var (
		wg    sync.WaitGroup
		polls int
		mixed []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			asOfs, n, err := shopAsOfs(ctx, pool, "shop-0")
			if err != nil {
				mixed = append(mixed, err.Error())
				return
			}
			polls++
			if len(asOfs) != 1 {
				mixed = append(mixed, fmt.Sprintf("%d rows with as_of %v", n, asOfs))
			}
		}
	}()

	e := newEngine(t, pool, func(c *compute.Config) { c.BatchSize, c.Workers, c.ProgressInterval = 1, 3, time.Millisecond })
	checked := false
	sum, err := e.Run(ctx, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full}, func(p compute.Progress) {
		if checked || p.PairsWritten < 3 {
			return
		}
		checked = true
		// The run has written rows, and not committed them.
		if during := testenv.StoredRows(t, pool, "shop-0"); !equalRows(byPair(during), byPair(before)) {
			t.Errorf("while the run wrote, the table held %d rows, not the previous run's %d", len(during), len(before))
		}
	})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("the run ended before the table could be read while it wrote")
	}
	if len(mixed) > 0 {
		t.Errorf("%d of %d reads during the run saw two runs at once; the first saw %s", len(mixed), polls, mixed[0])
	}
	t.Logf("%d reads during the run", polls)
	after := testenv.StoredRows(t, pool, "shop-0")
	if int64(len(after)) != sum.PairsWritten {
		t.Errorf("%d rows after the run, which wrote %d", len(after), sum.PairsWritten)
	}
	for _, r := range after {
		if !r.AsOf.Equal(june) {
			t.Fatalf("after the run, %s x %s is as of %s, want %s", r.CustomerID, r.ProductID, r.AsOf, june)
		}
	}
}

// TestStoppedFullRunLeavesPreviousRows stops FULL runs part of the way, in
// the ways a run in a server can stop: the shop's rows must be exactly
// those of the previous run, and the run not recorded as a success.
// (cmd/featurestore's tests kill a compute process.)
func TestStoppedFullRunLeavesPreviousRows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kill func(t *testing.T, pool *pgxpool.Pool, cancel context.CancelFunc)
	}{
		{"cancelled", func(_ *testing.T, _ *pgxpool.Pool, cancel context.CancelFunc) { cancel() }},
		{"connections killed", killDoomed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, url := testenv.GoldenPostgres(t)
			mustRun(t, newEngine(t, pool, nil), compute.Request{ShopID: "shop-0", AsOf: march, Mode: compute.Full})
			before := testenv.StoredRows(t, pool, "shop-0")
			stopRun(t, pool, url, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full}, tc.kill)
			after := testenv.StoredRows(t, pool, "shop-0")
			if len(after) != len(before) || !equalRows(byPair(after), byPair(before)) {
				t.Fatalf("after the stopped run the shop has %d rows, not the previous run's %d exactly", len(after), len(before))
			}
			var status string
			if err := pool.QueryRow(context.Background(), `SELECT status FROM feature_runs ORDER BY id DESC LIMIT 1`).Scan(&status); err != nil {
				t.Fatal(err)
			}
			// With its connections gone, the run may not record its end: the
			// next run of the shop finds it abandoned.
			if status == "succeeded" {
				t.Errorf("the stopped run is recorded %q", status)
			}
		})
	}
}

// TestExportAcrossFullRun reads the shop's rows as StreamFeatures does
// while a FULL run replaces them: the read, begun before the run, returns
// each pair once, all of the previous run, and is not in the run's way; a
// read begun after the run returns the new run's rows.
func TestExportAcrossFullRun(t *testing.T) {
	t.Parallel()
	pool := goldenDB(t)
	ctx := context.Background()
	st := store.New(pool)
	mustRun(t, newEngine(t, pool, nil), compute.Request{ShopID: "shop-0", AsOf: march, Mode: compute.Full})
	before := testenv.StoredRows(t, pool, "shop-0")

	var got []store.StoredRow
	ran := false
	err := st.ExportRows(ctx, store.ExportRequest{ShopID: "shop-0"}, func(r *store.StoredRow) error {
		if !ran {
			ran = true
			// The export's query is open and has sent one row: the run
			// must end while it goes on.
			mustRun(t, newEngine(t, pool, nil), compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full})
		}
		got = append(got, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(before) || !equalRows(byPair(got), byPair(before)) {
		t.Errorf("the export across the run returned %d rows, not the previous run's %d exactly", len(got), len(before))
	}
	seen := map[store.PairKey]bool{}
	for _, r := range got {
		k := store.PairKey{CustomerID: r.CustomerID, ProductID: r.ProductID}
		if seen[k] {
			t.Errorf("the export returned %v twice", k)
		}
		seen[k] = true
	}
	var later []store.StoredRow
	if err := st.ExportRows(ctx, store.ExportRequest{ShopID: "shop-0"}, func(r *store.StoredRow) error {
		later = append(later, *r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(later) == 0 {
		t.Error("an export after the run returned no row")
	}
	for _, r := range later {
		if !r.AsOf.Equal(june) {
			t.Fatalf("an export after the run returned %s x %s as of %s, want the new run's, as of %s", r.CustomerID, r.ProductID, r.AsOf, june)
		}
	}
}
