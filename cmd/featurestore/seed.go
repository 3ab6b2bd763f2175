package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/featurestore/featurestore/internal/demo"
)

func runSeedDemo(ctx context.Context, args []string) error {
	var (
		cfg     config
		ifEmpty bool
		end     string
	)
	d := demo.DefaultConfig()
	fs := newFlagSet("seed-demo", "[flags]")
	cfg.databaseFlags(fs)
	fs.StringVar(&d.ShopID, "shop", d.ShopID, "shop id to write")
	fs.Int64Var(&d.Seed, "seed", d.Seed, "random seed: the same seed and sizes always give the same rows")
	fs.IntVar(&d.Products, "products", d.Products, "number of products")
	fs.IntVar(&d.Customers, "customers", d.Customers, "number of customers")
	fs.IntVar(&d.Orders, "orders", d.Orders, "number of orders")
	fs.IntVar(&d.Events, "events", d.Events, "number of interactions")
	fs.IntVar(&d.Days, "days", d.Days, "days of history")
	fs.StringVar(&end, "end", d.End.Format(time.RFC3339), "last instant of the history, RFC 3339")
	fs.BoolVar(&ifEmpty, "if-empty", false, "do nothing when the shop already has interactions")
	if err := cfg.parse(fs, args); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, end)
	if err != nil {
		return fmt.Errorf("%w: --end %q is not an RFC 3339 time", errUsage, end)
	}
	d.End = t
	if err := d.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	st, closeDB, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	if ifEmpty {
		has, err := st.HasInteractions(ctx, d.ShopID)
		if err != nil {
			return err
		}
		if has {
			fmt.Printf("shop %s already has interactions; not seeding\n", d.ShopID)
			return nil
		}
	}
	var progress func(demo.Stats)
	if term.IsTerminal(int(os.Stderr.Fd())) {
		start := time.Now()
		progress = func(s demo.Stats) {
			fmt.Fprintf(os.Stderr, "\r\033[Kseeding %s: %d events (%.0f/s)", d.ShopID, s.Events, float64(s.Events)/max(time.Since(start).Seconds(), 1e-9))
		}
	}
	stats, err := demo.Seed(ctx, st, d, progress)
	if progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		return fmt.Errorf("seed demo shop: %w", err)
	}
	fmt.Printf("seeded shop %s: %d products, %d customers, %d orders, %d line items, %d interactions in %s\n",
		d.ShopID, stats.Products, stats.Customers, stats.Orders, stats.LineItems, stats.Events, stats.Duration.Round(time.Millisecond))
	return nil
}
