package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
)

func runCompute(ctx context.Context, args []string) error {
	var (
		cfg       config
		shop      string
		asOf      string
		customers string
		mode      string
		batchSize int
		allowPast bool
	)
	fs := newFlagSet("compute", "--shop ID [--as-of T] [flags]")
	cfg.databaseFlags(fs)
	cfg.computeFlags(fs)
	cfg.cacheFlags(fs)
	fs.StringVar(&shop, "shop", "", "shop to compute (required)")
	fs.StringVar(&asOf, "as-of", "", "computation instant, RFC 3339 (default: now)")
	fs.StringVar(&customers, "customers", "", "comma-separated customer ids to compute (default: all)")
	fs.StringVar(&mode, "mode", "full", "full or incremental")
	fs.IntVar(&batchSize, "batch-size", 5000, "rows per upsert transaction")
	fs.BoolVar(&allowPast, "allow-past-as-of", false, "allow an --as-of older than the as_of of the shop's last successful run, which moves its stored features back in time")
	if err := cfg.parse(fs, args); err != nil {
		return err
	}
	req := compute.Request{ShopID: shop, AllowPastAsOf: allowPast}
	if shop == "" {
		return fmt.Errorf("%w: --shop is required", errUsage)
	}
	if asOf != "" {
		t, err := time.Parse(time.RFC3339Nano, asOf)
		if err != nil {
			return fmt.Errorf("%w: --as-of %q is not an RFC 3339 time such as 2025-06-01T00:00:00Z", errUsage, asOf)
		}
		req.AsOf = t
	}
	if customers != "" {
		req.CustomerIDs = splitList(customers)
	}
	switch mode {
	case "full":
		req.Mode = compute.Full
	case "incremental":
		req.Mode = compute.Incremental
	default:
		return fmt.Errorf("%w: --mode must be full or incremental, not %q", errUsage, mode)
	}
	if batchSize < 1 {
		return fmt.Errorf("%w: --batch-size must be at least 1", errUsage)
	}

	engineCfg := cfg.computeConfig()
	engineCfg.BatchSize = batchSize
	var progress func(compute.Progress)
	if term.IsTerminal(int(os.Stderr.Fd())) {
		engineCfg.ProgressInterval = 200 * time.Millisecond
		progress = func(p compute.Progress) { printProgress(os.Stderr, p) }
	}
	logger := cfg.logger()
	st, closeDB, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	// A run writes through to the servers' cache, so that no server goes
	// on answering what the run replaced.
	if cc, ok := cfg.cacheConfig(); ok {
		redisCache, err := cache.New(ctx, st, cc, logger)
		if err != nil {
			return err
		}
		defer redisCache.Close()
		engineCfg.Sink = redisCache
	} else {
		logger.Info("no --redis-url: the run writes no cache; servers with one distrust the shop's cached vectors once it ends, until they have removed them")
	}
	engine, err := compute.NewEngine(st, engineCfg, logger)
	if err != nil {
		return err
	}
	sum, err := engine.Run(ctx, req, progress)
	if progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if errors.Is(err, store.ErrPastAsOf) {
		return fmt.Errorf("compute shop %q: %w (with this command: --allow-past-as-of)", shop, err)
	}
	if err != nil {
		return fmt.Errorf("compute shop %q: %w", shop, err)
	}
	fmt.Printf("shop %s, %s run: %d events and %d order lines read, %d pairs written, %d stale pairs removed, as of %s, in %s\n",
		sum.ShopID, sum.Mode, sum.EventsRead, sum.OrderLinesRead, sum.PairsWritten, sum.PairsDeleted,
		sum.AsOf.Format(time.RFC3339Nano), sum.Duration.Round(time.Millisecond))
	return nil
}

// printProgress draws a one-line progress display, rewritten in place.
func printProgress(w io.Writer, p compute.Progress) {
	secs := max(p.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "\r\033[K%s  events %d (%.0f/s)  pairs computed %d  written %d",
		spinner(p.Elapsed), p.EventsRead, float64(p.EventsRead)/secs, p.PairsComputed, p.PairsWritten)
}

func spinner(d time.Duration) string {
	const frames = `|/-\`
	i := int(d/(200*time.Millisecond)) % len(frames)
	return frames[i : i+1]
}
