package replica_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/replica"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// The tests that use the replica pause its replay, which holds back every
// database of the server: none of them runs in parallel.

const (
	shop = "replica-shop"
	// wait bounds every wait for the replica or a monitor.
	wait = 2 * time.Minute
)

// fixture is a test database on the primary and its replica, with a few
// stored rows that the replica has replayed.
type fixture struct {
	ctx              context.Context
	primary, replica *pgxpool.Pool
	primaryStore     *store.Store
	replicaStore     *store.Store
	customer         string
	product          string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	primary, _, rep, _ := testenv.ReplicaPostgres(t)
	f := &fixture{ctx: context.Background(), primary: primary, replica: rep, primaryStore: store.New(primary), replicaStore: store.New(rep)}
	// Registered after the pools, so it runs before they close: a paused
	// replay would hold back the other tests' databases.
	t.Cleanup(func() { f.setReplay(t, false) })
	if _, err := f.primaryStore.SeedFeatureRows(f.ctx, shop, 3, 4); err != nil {
		t.Fatal(err)
	}
	if err := f.primary.QueryRow(f.ctx, `SELECT customer_id, product_id FROM interaction_features WHERE shop_id = $1
		ORDER BY customer_id, product_id LIMIT 1`, shop).Scan(&f.customer, &f.product); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, wait, "the replica has the seeded rows", func() bool { return f.views(t, f.replica) >= 0 })
	return f
}

// views returns the stored total_views of the fixture's pair in the
// database of pool, or -1 when it has no row.
func (f *fixture) views(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var n int64 = -1
	err := pool.QueryRow(f.ctx, `SELECT COALESCE((SELECT total_views FROM interaction_features
		WHERE shop_id = $1 AND customer_id = $2 AND product_id = $3), -1)`, shop, f.customer, f.product).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// setReplay pauses or resumes the replica's replay and waits until it has.
func (f *fixture) setReplay(t *testing.T, pause bool) {
	t.Helper()
	testenv.SetReplay(t, f.replica, pause)
}

// addViews adds n to the pair's total_views on the primary and returns the
// new count.
func (f *fixture) addViews(t *testing.T, n int) int64 {
	t.Helper()
	var views int64
	if err := f.primary.QueryRow(f.ctx, `UPDATE interaction_features SET total_views = total_views + $4, last_computed_at = clock_timestamp()
		WHERE shop_id = $1 AND customer_id = $2 AND product_id = $3 RETURNING total_views`, shop, f.customer, f.product, n).Scan(&views); err != nil {
		t.Fatal(err)
	}
	return views
}

// monitor runs a monitor of the fixture's replica with maxLag until the
// test ends.
func (f *fixture) monitor(t *testing.T, maxLag time.Duration) *replica.Monitor {
	t.Helper()
	m, err := replica.NewMonitor(f.primaryStore, f.replicaStore, replica.Config{MaxLag: maxLag, CheckInterval: 20 * time.Millisecond}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// read answers the fixture's pair through reader, as GetFeatures does, and
// returns its total_views, or -1 when not found.
func (f *fixture) read(t *testing.T, reader interface {
	ReadPairs(context.Context, string, []store.Lookup) ([][]store.Record, error)
}, product string) int64 {
	t.Helper()
	recs, err := reader.ReadPairs(f.ctx, shop, []store.Lookup{{CustomerID: f.customer, ProductIDs: []string{product}}})
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0][0]
	switch {
	case !r.Found():
		return -1
	case r.Row != nil:
		return r.Row.Vector.TotalViews
	}
	rec, err := protoconv.EncodedRecord(r.Encoded).Decode(f.customer, product)
	if err != nil {
		t.Fatal(err)
	}
	return int64(rec.GetFeatures().GetTotalViews())
}

// exported returns the pair's total_views as an export reads it through e.
func (f *fixture) exported(t *testing.T, e *replica.Exports) int64 {
	t.Helper()
	var views int64 = -1
	err := e.ExportRows(f.ctx, store.ExportRequest{ShopID: shop, CustomerIDs: []string{f.customer}}, func(r *store.StoredRow) error {
		if r.ProductID == f.product {
			views = r.Vector.TotalViews
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return views
}

// TestReadsFollowTheLagBound reads through a monitor whose bound the
// replica's lag stays within and one whose bound it exceeds, while the
// replica's replay is paused and the primary changes: the first reads the
// replica's older value, the second the primary's. Once replay resumes,
// the second reads the replica again.
func TestReadsFollowTheLagBound(t *testing.T) {
	f := newFixture(t)
	loose, tight := f.monitor(t, time.Hour), f.monitor(t, 300*time.Millisecond)
	testenv.WaitFor(t, wait, "both monitors read the replica", func() bool { return loose.Fresh() && tight.Fresh() })
	looseReads, tightReads := replica.NewSource(f.primaryStore, f.replicaStore, loose), replica.NewSource(f.primaryStore, f.replicaStore, tight)
	looseExports := replica.NewExports(f.primaryStore, f.replicaStore, loose)
	tightExports := replica.NewExports(f.primaryStore, f.replicaStore, tight)
	old := f.views(t, f.primary)
	for name, got := range map[string]int64{"online within the bound": f.read(t, looseReads, f.product), "online beyond it": f.read(t, tightReads, f.product),
		"export within the bound": f.exported(t, looseExports), "export beyond it": f.exported(t, tightExports)} {
		if got != old {
			t.Fatalf("%s: %d views before any change, want %d", name, got, old)
		}
	}

	f.setReplay(t, true)
	now := f.addViews(t, 1000)
	testenv.WaitFor(t, wait, "the replica falls further behind than 300ms", func() bool { return !tight.Fresh() })
	if lag := tight.Lag(); lag <= 300*time.Millisecond {
		t.Errorf("a monitor that does not read the replica measures a lag of %s", lag)
	}
	if !loose.Fresh() {
		t.Fatalf("a replica %s behind is not read with a bound of an hour", loose.Lag())
	}
	if got := f.views(t, f.replica); got != old {
		t.Fatalf("the paused replica holds %d views, want the old %d", got, old)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"online within the bound (the replica)", f.read(t, looseReads, f.product), old},
		{"export within the bound (the replica)", f.exported(t, looseExports), old},
		{"online beyond it (the primary)", f.read(t, tightReads, f.product), now},
		{"export beyond it (the primary)", f.exported(t, tightExports), now},
	} {
		if c.got != c.want {
			t.Errorf("replay paused, %s: %d views, want %d", c.name, c.got, c.want)
		}
	}

	f.setReplay(t, false)
	testenv.WaitFor(t, wait, "the replica catches up and is read again, with the change", func() bool {
		return tight.Fresh() && f.read(t, tightReads, f.product) == now
	})
}

// TestCacheFillsFromThePrimary fills the cache through a replica that is
// within its bound but has not replayed the latest changes: the cache
// holds the primary's vectors and a pair that only the primary has, and
// reads of the replica itself show that they differ.
func TestCacheFillsFromThePrimary(t *testing.T) {
	f := newFixture(t)
	monitor := f.monitor(t, time.Hour)
	testenv.WaitFor(t, wait, "the monitor reads the replica", monitor.Fresh)
	source := replica.NewSource(f.primaryStore, f.replicaStore, monitor)

	f.setReplay(t, true)
	now := f.addViews(t, 1000)
	// One of the customer's other pairs becomes a pair of another product,
	// which only the primary has.
	const newProduct = "product-only-on-the-primary"
	if _, err := f.primary.Exec(f.ctx, `UPDATE interaction_features SET product_id = $3, total_views = 7, last_computed_at = clock_timestamp()
		WHERE shop_id = $1 AND customer_id = $2 AND product_id = (SELECT max(product_id) FROM interaction_features WHERE shop_id = $1 AND customer_id = $2)`,
		shop, f.customer, newProduct); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, source, newProduct); got != -1 {
		t.Fatalf("the paused replica answers %d views for a pair it has not replayed; want not found", got)
	}

	// A Redis budget far above what a busy machine takes: a read that
	// times out falls back to the source's ReadPairs, the replica.
	cfg := cache.DefaultConfig(testenv.Redis(t))
	cfg.Timeout = time.Minute
	c, err := cache.New(f.ctx, source, cfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, round := range []string{"the fill", "a read of the filled hash"} {
		if got := f.read(t, c, f.product); got != now {
			t.Errorf("%s: %d views, want the primary's %d", round, got, now)
		}
		if got := f.read(t, c, newProduct); got != 7 {
			t.Errorf("%s: the pair only the primary has: %d views, want 7", round, got)
		}
	}
}

// TestMonitorReadsNoPrimary points a monitor's replica at a server that is
// not in recovery (a primary, or a replica promoted since): it is never
// read, however close its position.
func TestMonitorReadsNoPrimary(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	m, err := replica.NewMonitor(st, st, replica.Config{MaxLag: time.Hour}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if m.Fresh() {
		t.Fatal("a monitor that has not checked yet reads the replica")
	}
	if err := m.Check(context.Background()); err == nil || m.Fresh() {
		t.Errorf("a primary as the replica: Check = %v, Fresh = %v; want an error and no reads", err, m.Fresh())
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  replica.Config
		want string // in the error; "" for none
	}{
		{replica.Config{MaxLag: replica.DefaultMaxLag}, ""},
		{replica.Config{MaxLag: time.Second, CheckInterval: time.Millisecond}, ""},
		{replica.Config{}, "MaxLag"},
		{replica.Config{MaxLag: -time.Second}, "MaxLag"},
		{replica.Config{MaxLag: time.Second, CheckInterval: -time.Second}, "CheckInterval"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), ": "+tc.want+" ")) {
			t.Errorf("%+v: Validate() = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
		if _, newErr := replica.NewMonitor(nil, nil, tc.cfg, testenv.Logger()); (newErr == nil) != (err == nil) {
			t.Errorf("%+v: NewMonitor = %v, want Validate's verdict %v", tc.cfg, newErr, err)
		}
	}
}
