package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestScansShareASmallPool runs more scans at once than a small pool can
// serve side by side: each scan needs two connections, and none may hold
// one while waiting for the other on the rest.
func TestScansShareASmallPool(t *testing.T) {
	t.Parallel()
	_, url := testenv.GoldenPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	small, err := store.Open(ctx, url+"&pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	st := store.New(small)
	asOf := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for round := range 5 {
		g, gctx := errgroup.WithContext(ctx)
		for range 6 {
			g.Go(func() error {
				pairs := 0
				err := st.ScanPairs(gctx, store.ScanRequest{ShopID: "shop-0", AsOf: asOf}, func(*store.Pair) error {
					pairs++
					time.Sleep(time.Microsecond) // keep the connections a while
					return nil
				})
				if err == nil && pairs == 0 {
					t.Error("a scan found no pairs")
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatalf("round %d: %v (a deadlock ends in the test's deadline)", round, err)
		}
	}
}

// acquireStarts receives a value each time its pool begins to acquire a
// connection.
type acquireStarts chan struct{}

func (a acquireStarts) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (a acquireStarts) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (a acquireStarts) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	a <- struct{}{}
	return ctx
}
func (a acquireStarts) TraceAcquireEnd(context.Context, *pgxpool.Pool, pgxpool.TraceAcquireEndData) {}

// TestScansWaitPerPool exhausts one pool and checks that a scan waiting on
// it holds up neither a scan on another pool of the same database (bulk
// reads have a pool, and a Store, of their own) nor the cancellation of a
// scan queued behind it on the same Store.
func TestScansWaitPerPool(t *testing.T) {
	pool, url := testenv.Postgres(t)
	testenv.LoadGolden(t, pool)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	starts := make(acquireStarts, 16)
	busy, err := store.Open(ctx, url, store.WithMaxConns(2), store.WithTracer(starts))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for range 2 {
		conn, err := busy.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
	}
	// Forget the acquires so far (Open's ping's too).
	for len(starts) > 0 {
		<-starts
	}
	req := store.ScanRequest{ShopID: "shop-0", AsOf: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}
	scan := func(ctx context.Context, st *store.Store) error {
		return st.ScanPairs(ctx, req, func(*store.Pair) error { return nil })
	}
	busyStore := store.New(busy)
	// The first scan waits for a connection of the busy pool...
	waiting, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	first := make(chan error, 1)
	go func() { first <- scan(waiting, busyStore) }()
	<-starts
	// ... and the second for the first.
	queued, stopQueued := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() { second <- scan(queued, busyStore) }()

	// A wait that ends only with the test's deadline fails; 20 s is far
	// more than either step takes.
	within := func(what string, ch <-chan error) error {
		select {
		case err := <-ch:
			return err
		case <-time.After(20 * time.Second):
			t.Fatalf("%s waited for the busy pool's scans", what)
			return nil
		}
	}
	other := make(chan error, 1)
	go func() { other <- scan(ctx, store.New(pool)) }()
	if err := within("a scan on another pool", other); err != nil {
		t.Fatalf("a scan on another pool: %v", err)
	}
	stopQueued()
	if err := within("a cancelled scan", second); !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled scan answered %v, want context.Canceled", err)
	}
	stopWaiting()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("the scan waiting for a connection answered %v, want context.Canceled", err)
	}
}
