package cache_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// postgresReads is the store, counting every read the cache makes of it:
// fills and fallbacks.
type postgresReads struct {
	fallbackCounter
	fills atomic.Int64
}

func (p *postgresReads) CustomersRows(ctx context.Context, shopID string, customerIDs []string) (map[string][]store.StoredRow, error) {
	p.fills.Add(1)
	return p.Source.CustomersRows(ctx, shopID, customerIDs)
}

func (p *postgresReads) count() int64 { return p.fills.Load() + p.reads.Load() }

// TestCacheAfterFullRun fills a customer's hash, then replaces the shop's
// rows with a FULL run: while the run writes, the cache answers the
// previous run's vectors, as the table does; once it ends, the new run's,
// from the hash the run wrote through to, without reading Postgres.
func TestCacheAfterFullRun(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	ctx := context.Background()
	src := &postgresReads{fallbackCounter: fallbackCounter{Source: store.New(pool)}}
	// A read that fell back for want of time would answer another question.
	c, err := cache.New(ctx, src, patientConfig(t), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e, err := compute.NewEngine(store.New(pool), withSink(c), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(ctx, compute.Request{ShopID: goldenShop, AsOf: march, Mode: compute.Full}, nil); err != nil {
		t.Fatal(err)
	}
	products := goldenProducts(t, pool)
	old := tableAsOf(t, pool, products)
	for range 2 { // a fill, then a read of the hash
		if d := diff(readAsOf(t, c, products), old); d != "" {
			t.Fatalf("before the run: %s", d)
		}
	}
	reads := src.count()

	slow := compute.DefaultConfig()
	slow.Sink, slow.BatchSize, slow.ProgressInterval = c, 1, time.Millisecond
	e, err = compute.NewEngine(store.New(pool), slow, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	checked := false
	if _, err := e.Run(ctx, compute.Request{ShopID: goldenShop, AsOf: june, Mode: compute.Full}, func(p compute.Progress) {
		if checked || p.PairsWritten < 3 {
			return
		}
		checked = true
		if d := diff(readAsOf(t, c, products), old); d != "" {
			t.Errorf("while the run wrote: %s (the previous run's)", d)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("the run ended before the cache could be read while it wrote")
	}
	fresh := tableAsOf(t, pool, products)
	if diff(fresh, old) == "" {
		t.Fatal("the run changed none of the customer's rows")
	}
	if d := diff(readAsOf(t, c, products), fresh); d != "" {
		t.Errorf("after the run: %s (the table's)", d)
	}
	if n := src.count() - reads; n != 0 {
		t.Errorf("the cached customer was read from Postgres %d times after it was cached, want 0", n)
	}
}
