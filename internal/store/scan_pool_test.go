package store_test

import (
	"context"
	"testing"
	"time"

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
