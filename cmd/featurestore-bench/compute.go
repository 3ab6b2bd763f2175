package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/demo"
)

func init() { register("compute", benchComputeSizes) }

// benchComputeSizes runs benchCompute for every --events size and prints
// the results side by side, so peak memory can be compared across sizes.
func benchComputeSizes(ctx context.Context, e env) error {
	var results []computeResult
	for _, n := range e.opts.events {
		r, err := benchCompute(ctx, e, n)
		if err != nil {
			return fmt.Errorf("%d events: %w", n, err)
		}
		results = append(results, r)
	}
	printComputeResults(results)
	return nil
}

type computeResult struct {
	events, pairs int64
	read, compute time.Duration
	peakRSS       int64
}

// benchShop returns the demo configuration of a benchmark shop of n events,
// its catalogue and customers scaled with it.
func benchShop(n int) demo.Config {
	c := demo.DefaultConfig().WithEvents(n)
	c.ShopID = fmt.Sprintf("bench-%d", n)
	return c
}

// ensureShop seeds the benchmark shop unless an earlier run did.
func ensureShop(ctx context.Context, e env, c demo.Config) error {
	has, err := e.st.HasInteractions(ctx, c.ShopID)
	if err != nil || has {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeding %s (%d events)...\n", c.ShopID, c.Events)
	stats, err := demo.Seed(ctx, e.st, c, nil)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(os.Stderr, "seeded %d events in %s\n", stats.Events, stats.Duration.Round(time.Millisecond))
	// A fresh table's pages are not yet all-visible; vacuum so that every
	// round reads the same way.
	_, err = e.pool.Exec(ctx, "VACUUM user_interactions, order_data, line_item_data, product_data")
	return err
}

// benchCompute times a FULL ComputeFeatures of an n-event shop through a
// server process against a COPY of the same events in pair order, the
// rounds alternating, and reads the server's peak memory.
func benchCompute(ctx context.Context, e env, n int) (computeResult, error) {
	c := benchShop(n)
	if err := ensureShop(ctx, e, c); err != nil {
		return computeResult{}, err
	}
	asOf := c.End
	floor, err := scanFloor(ctx, e.url, c.ShopID, asOf)
	if err != nil {
		return computeResult{}, err
	}
	o := e.opts
	srv, err := startServer(ctx, o.binary, e.url, "")
	if err != nil {
		return computeResult{}, err
	}
	defer srv.stop()
	client := featurestorev1.NewFeatureStoreServiceClient(srv.conn)
	res := computeResult{}
	var reads, computes []time.Duration
	for round := range o.rounds {
		start := time.Now()
		rows, err := copyRows(ctx, e.pool, floor, io.Discard)
		if err != nil {
			return res, err
		}
		reads = append(reads, time.Since(start))
		res.events = rows

		start = time.Now()
		s, err := computeSummary(ctx, client, &featurestorev1.ComputeFeaturesRequest{ShopId: c.ShopID, AsOf: timestamppb.New(asOf)})
		if err != nil {
			return res, fmt.Errorf("compute: %w", err)
		}
		res.pairs = s.GetPairsWritten()
		if s.GetEventsRead() != rows {
			return res, fmt.Errorf("compute read %d events, the floor %d", s.GetEventsRead(), rows)
		}
		computes = append(computes, time.Since(start))
		fmt.Fprintf(os.Stderr, "  %s round %d: read %s, compute %s\n", c.ShopID, round+1,
			reads[round].Round(time.Millisecond), computes[round].Round(time.Millisecond))
	}
	res.read, res.compute = median(reads), median(computes)
	res.peakRSS, err = srv.peakRSS()
	return res, err
}

func printComputeResults(results []computeResult) {
	fmt.Println("\nComputeFeatures FULL against the ordered read of the same events (COPY ... ORDER BY ... TO a null sink)")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "events\tpairs\tread (median)\tcompute (median)\tcompute / read\tevents/s\tserver peak RSS\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.2fx\t%.0f\t%.1f MiB\t\n", r.events, r.pairs,
			r.read.Round(time.Millisecond), r.compute.Round(time.Millisecond),
			r.compute.Seconds()/r.read.Seconds(), float64(r.events)/r.compute.Seconds(), float64(r.peakRSS)/(1<<20))
	}
	tw.Flush()
}
