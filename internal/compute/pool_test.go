package compute_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestRunsShareASmallPool runs both golden shops at once, twice over, on
// pools too small to give every run all the connections it would like:
// the runs must take turns or shrink, never wait on each other for ever.
func TestRunsShareASmallPool(t *testing.T) {
	t.Parallel()
	_, url := testenv.GoldenPostgres(t)
	for _, size := range []int{4, 6} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		small, err := store.Open(ctx, url+"&pool_max_conns="+strconv.Itoa(size))
		if err != nil {
			t.Fatal(err)
		}
		cfg := compute.DefaultConfig()
		cfg.Workers, cfg.BatchSize = 8, 50
		engine, err := compute.NewEngine(store.New(small), cfg, testenv.Logger())
		if err != nil {
			t.Fatal(err)
		}
		g, gctx := errgroup.WithContext(ctx)
		for range 2 {
			for _, shop := range goldenShops {
				g.Go(func() error {
					_, err := engine.Run(gctx, compute.Request{ShopID: shop, AsOf: june, Mode: compute.Full}, nil)
					if errors.Is(err, store.ErrShopLocked) {
						return nil // the other run of the same shop holds it
					}
					return err
				})
			}
		}
		err = g.Wait()
		small.Close()
		cancel()
		if err != nil {
			t.Fatalf("pool of %d: %v (a deadlock ends in the test's deadline)", size, err)
		}
	}
	tooSmall, err := store.Open(context.Background(), url+"&pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	defer tooSmall.Close()
	engine, err := compute.NewEngine(store.New(tooSmall), compute.DefaultConfig(), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.Run(context.Background(), compute.Request{ShopID: "shop-0", Mode: compute.Full}, nil)
	if !errors.Is(err, compute.ErrPoolTooSmall) {
		t.Errorf("run on a pool of 3: %v, want a clear refusal", err)
	}
}
