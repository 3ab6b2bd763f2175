package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/refresh"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// newEvent inserts a view of a new pair of shop, so that the shop has a
// change to refresh.
func newEvent(t *testing.T, pool *pgxpool.Pool, shop, customer string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
		VALUES ($1 || '/' || $2, $1, $2, 'refresh-product', 'product_viewed', now() - interval '1 hour')`, shop, customer)
	if err != nil {
		t.Fatal(err)
	}
}

// newEngine returns a compute engine with the default settings on pool.
func newEngine(t *testing.T, pool *pgxpool.Pool) *compute.Engine {
	t.Helper()
	e, err := compute.NewEngine(store.New(pool), compute.DefaultConfig(), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// newScheduler returns a scheduler over pool's shops that runs engine.
func newScheduler(t *testing.T, pool *pgxpool.Pool, engine *compute.Engine, interval, fullInterval time.Duration) *refresh.Scheduler {
	t.Helper()
	s, err := refresh.New(store.New(pool), engine, refresh.Config{Interval: interval, FullInterval: fullInterval}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// summarize shows outcomes as "shop mode result", in shop order.
func summarize(outcomes []refresh.Outcome) []string {
	var out []string
	for _, o := range outcomes {
		result := "ok"
		switch {
		case errors.Is(o.Err, store.ErrShopLocked):
			result = "locked"
		case o.Err != nil:
			result = o.Err.Error()
		}
		out = append(out, fmt.Sprintf("%s %s %s", o.ShopID, o.Mode, result))
	}
	return out
}

// TestPassRunsWhatIsDue walks a shop's life through passes of the
// schedule, one of them by a scheduler that has just started, as after a
// restart, which knows only what Postgres holds.
func TestPassRunsWhatIsDue(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	ctx := context.Background()
	engine := newEngine(t, pool)
	scheduler := newScheduler(t, pool, engine, time.Hour, 24*time.Hour)
	// holder takes and releases shop-0's lock as another server would.
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	hold := func(lock bool) {
		fn := "pg_advisory_unlock"
		if lock {
			fn = "pg_advisory_lock"
		}
		if _, err := holder.Exec(ctx, `SELECT `+fn+`(hashtextextended('featurestore/compute/' || $1, 0))`, "shop-0"); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		name      string
		before    func()
		scheduler *refresh.Scheduler
		want      []string
	}{
		{"new shops get a full run", nil, scheduler, []string{"shop-0 full ok", "shop-1 full ok"}},
		{"nothing changed", nil, scheduler, nil},
		{"a change makes its shop due", func() { newEvent(t, pool, "shop-0", "c1") }, scheduler, []string{"shop-0 incremental ok"}},
		{"an old full run makes its shop due, after a restart too", func() {
			if _, err := pool.Exec(ctx, `UPDATE feature_runs SET started_at = started_at - interval '2 days' WHERE shop_id = 'shop-1'`); err != nil {
				t.Fatal(err)
			}
		}, newScheduler(t, pool, engine, time.Hour, 24*time.Hour), []string{"shop-1 full ok"}},
		{"a shop another run holds is skipped", func() {
			newEvent(t, pool, "shop-0", "c2")
			hold(true)
		}, scheduler, []string{"shop-0 incremental locked"}},
		{"its change waits for the next pass", func() { hold(false) }, scheduler, []string{"shop-0 incremental ok"}},
		{"without a full interval, only changes are due", func() {
			if _, err := pool.Exec(ctx, `UPDATE feature_runs SET started_at = started_at - interval '30 days'`); err != nil {
				t.Fatal(err)
			}
			newEvent(t, pool, "shop-1", "c3")
		}, newScheduler(t, pool, engine, time.Hour, 0), []string{"shop-1 incremental ok"}},
	} {
		if step.before != nil {
			step.before()
		}
		if got := summarize(step.scheduler.Pass(ctx)); !slices.Equal(got, step.want) {
			t.Fatalf("%s: pass did %q, want %q", step.name, got, step.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  refresh.Config
		want string // in the error; "" for none
	}{
		{refresh.Config{Interval: time.Minute, FullInterval: 24 * time.Hour}, ""},
		{refresh.Config{Interval: time.Minute}, ""},
		{refresh.Config{}, "Interval"},
		{refresh.Config{Interval: -time.Second}, "Interval"},
		{refresh.Config{Interval: time.Minute, FullInterval: -time.Hour}, "FullInterval"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), ": "+tc.want+" ")) {
			t.Errorf("%+v: Validate() = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
		if _, newErr := refresh.New(nil, nil, tc.cfg, testenv.Logger()); (newErr == nil) != (err == nil) {
			t.Errorf("%+v: New = %v, want Validate's verdict %v", tc.cfg, newErr, err)
		}
	}
}

// TestRunKeepsFeaturesCurrent runs the schedule with a short interval and
// waits for a new event to reach the table, then stops it.
func TestRunKeepsFeaturesCurrent(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	scheduler := newScheduler(t, pool, newEngine(t, pool), 20*time.Millisecond, 24*time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		scheduler.Run(ctx)
	}()
	defer func() {
		cancel()
		<-stopped
	}()

	newEvent(t, pool, "shop-1", "fresh-customer")
	testenv.WaitFor(t, 2*time.Minute, "scheduled refreshes compute the new event's pair", func() bool {
		var n int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM interaction_features
			WHERE shop_id = 'shop-1' AND customer_id = 'fresh-customer' AND total_views = 1`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
}

// gatedRunner holds each scheduler's first run until every scheduler has
// begun one, so that the test sees the schedulers share the work whatever
// the machine's load: a scheduler waiting in its first run holds its claim,
// and the others must claim other shops to get there.
type gatedRunner struct {
	t       *testing.T
	engine  *compute.Engine
	first   sync.Once
	started *sync.WaitGroup
	all     <-chan struct{}
}

func (g *gatedRunner) Run(ctx context.Context, req compute.Request, progress func(compute.Progress)) (compute.Summary, error) {
	g.first.Do(func() {
		g.started.Done()
		select {
		case <-g.all:
		case <-time.After(2 * time.Minute):
			g.t.Error("the other scheduler claimed no shop while this one held its first")
		}
	})
	return g.engine.Run(ctx, req, progress)
}

// runCounts returns the number of runs of each shop, by mode.
func runCounts(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT shop_id || ' ' || mode, count(*) FROM feature_runs GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for rows.Next() {
		var key string
		var n int
		if err := rows.Scan(&key, &n); err != nil {
			t.Fatal(err)
		}
		counts[key] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return counts
}

// TestPassesOfManySchedulersRunEachDueShopOnce runs the passes of two
// schedulers, as two servers would, at the same time over many due shops:
// every due shop is computed exactly once, by one of them, and both take a
// share. Then a change to some shops makes them due again, and again each
// is computed once.
func TestPassesOfManySchedulersRunEachDueShopOnce(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	ctx := context.Background()
	shops := []string{"shop-0", "shop-1"}
	for i := range 10 {
		shop := fmt.Sprintf("many-%02d", i)
		newEvent(t, pool, shop, "c1")
		shops = append(shops, shop)
	}
	var started sync.WaitGroup
	started.Add(2)
	all := make(chan struct{})
	schedulers := make([]*refresh.Scheduler, 2)
	for i := range schedulers {
		runner := &gatedRunner{t: t, engine: newEngine(t, pool), started: &started, all: all}
		s, err := refresh.New(store.New(pool), runner, refresh.Config{Interval: time.Hour, FullInterval: 24 * time.Hour,
			Claimant: fmt.Sprintf("replica-%d", i)}, testenv.Logger())
		if err != nil {
			t.Fatal(err)
		}
		schedulers[i] = s
	}
	go func() { started.Wait(); close(all) }()

	passes := func() [][]refresh.Outcome {
		t.Helper()
		out := make([][]refresh.Outcome, len(schedulers))
		var wg sync.WaitGroup
		for i, s := range schedulers {
			wg.Go(func() { out[i] = s.Pass(ctx) })
		}
		wg.Wait()
		return out
	}
	// check says that the passes ran exactly want (shop and mode) between
	// them, each once and successfully, and that feature_runs agrees.
	check := func(name string, outcomes [][]refresh.Outcome, want []string, runs map[string]int) {
		t.Helper()
		var got []string
		for i, os := range outcomes {
			for _, line := range summarize(os) {
				if !strings.HasSuffix(line, " ok") {
					t.Errorf("%s: scheduler %d: %s", name, i, line)
				}
				got = append(got, strings.TrimSuffix(line, " ok"))
			}
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s: the passes ran %q, want each of %q once", name, got, want)
		}
		if counts := runCounts(t, pool); !maps.Equal(counts, runs) {
			t.Errorf("%s: feature_runs holds %v runs by shop and mode, want %v", name, counts, runs)
		}
	}

	outcomes := passes()
	var want []string
	runs := map[string]int{}
	for _, shop := range shops {
		want = append(want, shop+" full")
		runs[shop+" full"] = 1
	}
	check("first passes", outcomes, want, runs)
	for i, os := range outcomes {
		if len(os) == 0 {
			t.Errorf("scheduler %d ran no shop: the work was not shared", i)
		}
	}

	if got := passes(); len(got[0])+len(got[1]) != 0 {
		t.Errorf("passes with nothing due ran %q and %q", summarize(got[0]), summarize(got[1]))
	}

	changed := []string{"many-03", "many-04", "shop-1"}
	want = nil
	for _, shop := range changed {
		newEvent(t, pool, shop, "c2")
		want = append(want, shop+" incremental")
		runs[shop+" incremental"] = 1
	}
	check("after changes", passes(), want, runs)
}
