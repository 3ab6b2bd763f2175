package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// countingSource is the store, counting the reads the cache makes of it.
// The first CustomersRows waits for release, so that the test decides how
// long the first fill is in flight.
type countingSource struct {
	cache.Source
	release                  chan struct{}
	reading                  chan struct{} // closed when the first read starts
	customersReads, pairRead atomic.Int64
}

func newCountingSource(st *store.Store) *countingSource {
	return &countingSource{Source: st, release: make(chan struct{}), reading: make(chan struct{})}
}

func (s *countingSource) CustomersRows(ctx context.Context, shopID string, customerIDs []string) (map[string][]store.StoredRow, error) {
	if s.customersReads.Add(1) == 1 {
		close(s.reading)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Source.CustomersRows(ctx, shopID, customerIDs)
}

func (s *countingSource) ReadPairs(ctx context.Context, shopID string, lookups []store.Lookup) ([][]store.Record, error) {
	s.pairRead.Add(1)
	return s.Source.ReadPairs(ctx, shopID, lookups)
}

// TestConcurrentMissesShareOneRead sends many reads of one cold customer at
// once, through a cache in front of the store: together they cost one read
// of Postgres, each gets the right answer, and the next read costs none.
func TestConcurrentMissesShareOneRead(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	st := store.New(pool)
	if _, err := st.SeedFeatureRows(ctx, "shop", 20, 30); err != nil {
		t.Fatal(err)
	}
	lookup, want := customerLookup(t, st)
	src := newCountingSource(st)
	c, err := cache.New(ctx, src, patientConfig(t), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const readers = 16
	var started, done sync.WaitGroup
	started.Add(readers)
	done.Add(readers)
	got := make([][][]store.Record, readers)
	errs := make([]error, readers)
	for i := range readers {
		go func() {
			defer done.Done()
			started.Done()
			got[i], errs[i] = c.ReadPairs(ctx, "shop", lookup)
		}()
	}
	started.Wait()
	// The first fill stays in flight a moment while the others miss too:
	// each would read Postgres if misses were not shared. How long does
	// not matter to a cache that shares them.
	time.Sleep(100 * time.Millisecond)
	close(src.release)
	done.Wait()

	if n := src.customersReads.Load(); n != 1 {
		t.Errorf("%d concurrent reads of one cold customer made %d reads of its rows, want 1", readers, n)
	}
	if n := src.pairRead.Load(); n != 0 {
		t.Errorf("%d reads fell back to Postgres, want none", n)
	}
	for i := range readers {
		if errs[i] != nil {
			t.Fatalf("reader %d: %v", i, errs[i])
		}
		checkRecords(t, got[i][0], want[0])
	}
	before := src.customersReads.Load() + src.pairRead.Load()
	warm, err := c.ReadPairs(ctx, "shop", lookup)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, warm[0], want[0])
	if n := src.customersReads.Load() + src.pairRead.Load() - before; n != 0 {
		t.Errorf("a warm read made %d reads of Postgres, want none", n)
	}
}

// TestFillOutlivesItsLeader cancels the read that leads a fill while
// another read waits for the same customer: the waiting read does not fail
// with the leader's cancellation, but reads the customer itself.
func TestFillOutlivesItsLeader(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	st := store.New(pool)
	if _, err := st.SeedFeatureRows(ctx, "shop", 20, 30); err != nil {
		t.Fatal(err)
	}
	lookup, want := customerLookup(t, st)
	src := newCountingSource(st)
	c, err := cache.New(ctx, src, patientConfig(t), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	leaderCtx, cancelLeader := context.WithCancel(ctx)
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.ReadPairs(leaderCtx, "shop", lookup)
		leaderErr <- err
	}()
	<-src.reading // the leader's fill is in flight
	type result struct {
		recs [][]store.Record
		err  error
	}
	follower := make(chan result, 1)
	go func() {
		recs, err := c.ReadPairs(ctx, "shop", lookup)
		follower <- result{recs, err}
	}()
	// Let the follower join the leader's fill before the leader goes away;
	// had it not joined yet, it reads on its own, which passes too.
	time.Sleep(100 * time.Millisecond)
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled leader got %v, want context.Canceled", err)
	}
	r := <-follower
	if r.err != nil {
		t.Fatalf("the follower failed with its leader: %v", r.err)
	}
	checkRecords(t, r.recs[0], want[0])
}

// patientConfig is the default configuration with budgets that a busy
// machine does not exceed: these tests are about sharing reads, and a read
// that fell back to Postgres for want of time would answer another
// question.
func patientConfig(t *testing.T) cache.Config {
	url := testenv.Redis(t)
	cfg := cache.DefaultConfig(url)
	cfg.Mode = cache.Mode(testenv.RedisModeOf(url))
	cfg.Timeout = 10 * time.Second
	return cfg
}

// customerLookup returns a lookup of a customer of the seeded shop (found
// products, one asked twice, and one it has no row for) and the store's
// answer to it.
func customerLookup(t *testing.T, st *store.Store) ([]store.Lookup, [][]store.Record) {
	t.Helper()
	ctx := context.Background()
	const customer = "gid://shopify/Customer/7"
	rows, err := st.CustomersRows(ctx, "shop", []string{customer})
	if err != nil || len(rows[customer]) != 30 {
		t.Fatalf("the customer's rows: %d, %v", len(rows[customer]), err)
	}
	lookup := []store.Lookup{{CustomerID: customer, ProductIDs: []string{
		rows[customer][3].ProductID, "gid://shopify/Product/none", rows[customer][0].ProductID, rows[customer][3].ProductID,
	}}}
	want, err := st.ReadPairs(ctx, "shop", lookup)
	if err != nil {
		t.Fatal(err)
	}
	return lookup, want
}

// checkRecords fails unless the cache's records encode the store's rows.
func checkRecords(t *testing.T, got, want []store.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for j := range want {
		if got[j].Found() != want[j].Found() {
			t.Fatalf("record %d found %v, want %v", j, got[j].Found(), want[j].Found())
		}
		if !want[j].Found() {
			continue
		}
		enc, err := protoconv.EncodeRecord(want[j].Row)
		if err != nil {
			t.Fatal(err)
		}
		if got[j].Encoded != string(enc) {
			t.Errorf("record %d differs from the stored row", j)
		}
	}
}
