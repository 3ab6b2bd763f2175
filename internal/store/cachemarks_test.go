package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// marksOf returns every mark as "shop/customer", sorted, and the version.
func marksOf(t *testing.T, st *store.Store) ([]string, int64) {
	t.Helper()
	m, err := st.CacheMarksSince(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, mk := range m.Marks {
		out = append(out, mk.ShopID+"/"+mk.CustomerID)
	}
	slices.Sort(out)
	return out, m.Version
}

func marksByKey(t *testing.T, st *store.Store) map[string]store.CacheMark {
	t.Helper()
	m, err := st.CacheMarksSince(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.CacheMark{}
	for _, mk := range m.Marks {
		out[mk.ShopID+"/"+mk.CustomerID] = mk
	}
	return out
}

// TestCacheMarks: marks are versioned, a mark recorded again survives the
// removal of its older id, and a shop with too many marked customers is
// marked whole.
func TestCacheMarks(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	ctx := context.Background()
	v1, err := st.MarkCache(ctx, "a", []string{"c1", "c2", "c2"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, v := marksOf(t, st); !slices.Equal(got, []string{"a/c1", "a/c2"}) || v != v1 {
		t.Fatalf("marks %v at version %d, want a/c1 and a/c2 at %d", got, v, v1)
	}
	if m, err := st.CacheMarksSince(ctx, v1); err != nil || m.Version != v1 || m.Marks != nil {
		t.Fatalf("marks since the current version: %+v, %v; want the version alone", m, err)
	}
	old := marksByKey(t, st)
	if _, err := st.MarkCache(ctx, "a", []string{"c1"}, 3); err != nil { // c1 fails again
		t.Fatal(err)
	}
	if err := st.UnmarkCache(ctx, []store.CacheMark{old["a/c1"], old["a/c2"]}); err != nil {
		t.Fatal(err)
	}
	if got, _ := marksOf(t, st); !slices.Equal(got, []string{"a/c1"}) {
		t.Fatalf("after removing the repaired marks: %v, want a/c1, recorded again, kept", got)
	}
	if _, err := st.MarkCache(ctx, "a", []string{"c3", "c4", "c5"}, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkCache(ctx, "b", []string{"c1"}, 3); err != nil {
		t.Fatal(err)
	}
	if got, _ := marksOf(t, st); !slices.Equal(got, []string{"a/", "b/c1"}) {
		t.Fatalf("after marking 4 customers of a with a limit of 3: %v, want a marked whole", got)
	}
}

// TestMarkUnsettledRuns: a run that ends without settling its cache
// writes, or dies holding none of its lock, gets its shop marked whole;
// a live run and a settled one do not.
func TestMarkUnsettledRuns(t *testing.T) {
	pool, url := testenv.Postgres(t)
	st := store.New(pool)
	ctx := context.Background()
	begin := func(st *store.Store, shop string) *store.Run {
		t.Helper()
		run, err := st.BeginRun(ctx, store.RunInfo{ShopID: shop, Mode: "full", AsOf: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	reap := func(want int64) {
		t.Helper()
		n, err := st.MarkUnsettledRuns(ctx)
		if err != nil || n != want {
			t.Fatalf("MarkUnsettledRuns = %d, %v; want %d", n, err, want)
		}
	}

	live := begin(st, "live")
	reap(0)
	settled := begin(st, "settled")
	if err := settled.Finish(store.RunTotals{CacheSettled: true}, nil); err != nil {
		t.Fatal(err)
	}
	unsettled := begin(st, "unsettled")
	if err := unsettled.Finish(store.RunTotals{}, nil); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	doomed, err := store.Open(ctx, url+sep+"application_name=doomed")
	if err != nil {
		t.Fatal(err)
	}
	defer doomed.Close()
	dead := begin(store.New(doomed), "dead")
	// The dead run's process would hold nothing; here its connection goes
	// back so that the pool can close.
	defer func() { _ = dead.Finish(store.RunTotals{}, errors.New("killed")) }()
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE application_name = 'doomed' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	reap(2)
	if got, _ := marksOf(t, st); !slices.Equal(got, []string{"dead/", "unsettled/"}) {
		t.Errorf("marks %v, want the dead and the unsettled runs' shops whole", got)
	}
	var status string
	if err := pool.QueryRow(ctx, `SELECT status FROM feature_runs WHERE shop_id = 'dead'`).Scan(&status); err != nil || status != "abandoned" {
		t.Errorf("the dead run's status: %q (%v), want abandoned", status, err)
	}
	reap(0)
	if err := live.Finish(store.RunTotals{CacheSettled: true}, nil); err != nil {
		t.Fatal(err)
	}
	reap(0)
}
