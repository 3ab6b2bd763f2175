package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
)

func init() { register("incremental", benchIncremental) }

// changedShare is the share of a shop's pairs that get a new event before
// each timed INCREMENTAL run.
const changedShare = 0.01

// changedEventPrefix marks the events the benchmark adds, so that it can
// remove them again and leave the shop as seeded.
const changedEventPrefix = "bench-incremental-"

type incrementalResult struct {
	events, pairs, changed int64
	workers                int
	// write is the upsert alone: the shop's stored rows written back as a
	// FULL run writes them, with as many writers, without reading events.
	read, write, full1, fullN time.Duration
	incremental               time.Duration
}

// benchIncremental times, on the largest --events shop, the ordered read of
// its events (the floor of a run), the upsert of its rows without reading
// events (the other floor: a FULL run rewrites every row), a FULL
// ComputeFeatures run through a server computing on one worker, the same
// through a server with the default number of workers (one per CPU), and an
// INCREMENTAL run after 1% of the pairs got a new event, the rounds
// alternating the cases. Then it removes the events it added and brings the
// table back up to date.
func benchIncremental(ctx context.Context, e env) error {
	c := benchShop(slices.Max(e.opts.events))
	if err := ensureShop(ctx, e, c); err != nil {
		return err
	}
	floor, err := scanFloor(ctx, e.url, c.ShopID, c.End)
	if err != nil {
		return err
	}
	one, err := startServer(ctx, e.opts.binary, e.url, "", "--compute-workers", "1")
	if err != nil {
		return err
	}
	defer one.stop()
	all, err := startServer(ctx, e.opts.binary, e.url, "")
	if err != nil {
		return err
	}
	defer all.stop()
	oneClient := featurestorev1.NewFeatureStoreServiceClient(one.conn)
	allClient := featurestorev1.NewFeatureStoreServiceClient(all.conn)
	run := func(client featurestorev1.FeatureStoreServiceClient, mode featurestorev1.ComputeMode) (*featurestorev1.ComputeSummary, time.Duration, error) {
		start := time.Now()
		sum, err := computeSummary(ctx, client, &featurestorev1.ComputeFeaturesRequest{ShopId: c.ShopID, AsOf: timestamppb.New(c.End), Mode: mode})
		return sum, time.Since(start), err
	}

	// A fresh shop's first FULL run inserts its rows rather than updating
	// them, and consumes the seed's change log: a warm-up run makes every
	// round measure the same work.
	if _, _, err := run(allClient, featurestorev1.ComputeMode_COMPUTE_MODE_FULL); err != nil {
		return fmt.Errorf("warm-up full run: %w", err)
	}
	// The server's default: one worker per CPU of this machine, which runs
	// Postgres too.
	res := incrementalResult{workers: runtime.NumCPU()}
	var reads, writes, full1s, fullNs, incrementals []time.Duration
	for round := range e.opts.rounds {
		start := time.Now()
		rows, err := copyRows(ctx, e.pool, floor, io.Discard)
		if err != nil {
			return err
		}
		reads = append(reads, time.Since(start))
		res.events = rows

		batches, err := storedBatches(ctx, e.st, c.ShopID)
		if err != nil {
			return err
		}
		d, err := rewriteRows(ctx, e.st, c.ShopID, c.End, batches)
		if err != nil {
			return err
		}
		writes = append(writes, d)

		if _, d, err = run(oneClient, featurestorev1.ComputeMode_COMPUTE_MODE_FULL); err != nil {
			return fmt.Errorf("full run on one worker: %w", err)
		}
		full1s = append(full1s, d)
		sum, d, err := run(allClient, featurestorev1.ComputeMode_COMPUTE_MODE_FULL)
		if err != nil {
			return fmt.Errorf("full run on all workers: %w", err)
		}
		fullNs = append(fullNs, d)
		res.pairs = sum.GetPairsWritten()

		if res.changed, err = changePairs(ctx, e.pool, c.ShopID, c.End, round); err != nil {
			return err
		}
		if sum, d, err = run(allClient, featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL); err != nil {
			return fmt.Errorf("incremental run: %w", err)
		}
		if sum.GetMode() != featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL {
			return fmt.Errorf("the incremental run was done as %s", sum.GetMode())
		}
		incrementals = append(incrementals, d)
		fmt.Fprintf(os.Stderr, "  %s round %d: read %s, upsert %s, full (1 worker) %s, full (%d workers) %s, incremental after %d changed pairs %s\n",
			c.ShopID, round+1, reads[round].Round(time.Millisecond), writes[round].Round(time.Millisecond), full1s[round].Round(time.Millisecond),
			res.workers, fullNs[round].Round(time.Millisecond), res.changed, incrementals[round].Round(time.Millisecond))
	}
	res.read, res.write, res.full1, res.fullN, res.incremental = median(reads), median(writes), median(full1s), median(fullNs), median(incrementals)

	// Leave the shop as seeded for the other benchmarks.
	if _, err := e.pool.Exec(ctx, `DELETE FROM user_interactions WHERE shop_id = $1 AND id LIKE $2`, c.ShopID, changedEventPrefix+"%"); err != nil {
		return fmt.Errorf("remove the added events: %w", err)
	}
	if _, _, err := run(allClient, featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL); err != nil {
		return fmt.Errorf("incremental run after removing the added events: %w", err)
	}
	printIncrementalResult(res)
	return nil
}

// computeSummary runs ComputeFeatures to its end and returns its summary.
func computeSummary(ctx context.Context, client featurestorev1.FeatureStoreServiceClient, req *featurestorev1.ComputeFeaturesRequest) (*featurestorev1.ComputeSummary, error) {
	stream, err := client.ComputeFeatures(ctx, req)
	if err != nil {
		return nil, err
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if s := msg.GetSummary(); s != nil {
			return s, nil
		}
	}
}

// changePairs gives changedShare of the shop's stored pairs, picked by id
// (another share in each round), one new view each, just before asOf, in
// one statement as an ingest batch would. It returns how many it changed.
func changePairs(ctx context.Context, pool *pgxpool.Pool, shopID string, asOf time.Time, round int) (int64, error) {
	every := int64(math.Round(1 / changedShare))
	tag, err := pool.Exec(ctx, `
INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, page_type, device_type, view_duration, created_at)
SELECT $2 || f.id, f.shop_id, f.customer_id, f.product_id, 'product_viewed', 'search', 'mobile', 30, $3
  FROM interaction_features f
 WHERE f.shop_id = $1 AND f.id % $4 = $5`, shopID, changedEventPrefix+strconv.Itoa(round)+"-", asOf.Add(-time.Minute), every, int64(round)%every)
	if err != nil {
		return 0, fmt.Errorf("change pairs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// storedBatches reads the shop's stored rows into batches of a run's size,
// for rewriteRows to write without reading. They take about a kilobyte per
// row of the benchmark process' memory.
func storedBatches(ctx context.Context, st *store.Store, shopID string) ([][]store.FeatureRow, error) {
	const batchSize = 5000
	var batches [][]store.FeatureRow
	err := st.ExportRows(ctx, store.ExportRequest{ShopID: shopID}, func(r *store.StoredRow) error {
		if len(batches) == 0 || len(batches[len(batches)-1]) == batchSize {
			batches = append(batches, make([]store.FeatureRow, 0, batchSize))
		}
		last := &batches[len(batches)-1]
		*last = append(*last, store.FeatureRow{CustomerID: r.CustomerID, ProductID: r.ProductID, Vector: r.Vector})
		return nil
	})
	return batches, err
}

// rewriteRows writes batches of the shop's rows back through the writers a
// FULL run uses (store.Writer, as many as a server has) and returns how
// long that took: what a FULL run costs beside reading and computing. It
// records itself in feature_runs under a mode of its own, which no schedule
// mistakes for a FULL run.
func rewriteRows(ctx context.Context, st *store.Store, shopID string, asOf time.Time, batches [][]store.FeatureRow) (time.Duration, error) {
	run, err := st.BeginRun(ctx, store.RunInfo{ShopID: shopID, Mode: "bench-upsert", AsOf: asOf})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	next := make(chan []store.FeatureRow)
	for range compute.DefaultConfig().Writers {
		g.Go(func() error {
			w, err := run.NewWriter(gctx)
			if err != nil {
				return err
			}
			defer w.Close()
			for b := range next {
				if _, err := w.WriteBatch(gctx, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(next)
		for _, b := range batches {
			select {
			case next <- b:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	err = g.Wait()
	d := time.Since(start)
	if finishErr := run.Finish(store.RunTotals{}, err); err == nil {
		err = finishErr
	}
	return d, err
}

func printIncrementalResult(r incrementalResult) {
	fmt.Println("\nComputeFeatures FULL on one worker and on all, against the ordered read of the same events and the upsert of the")
	fmt.Println("rows it writes (stored rows written back, no events read); then INCREMENTAL after 1% of the pairs changed (medians)")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "events\tpairs\tread\tupsert\t/ read\tFULL, 1 worker\t/ read\tFULL, "+strconv.Itoa(r.workers)+" workers\t/ read (target <= 1.25x)\tchanged pairs\tINCREMENTAL\t/ FULL (target < 5%)\t")
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.2fx\t%s\t%.2fx\t%s\t%.2fx\t%d\t%s\t%.1f%%\t\n", r.events, r.pairs,
		ms(r.read), ms(r.write), r.write.Seconds()/r.read.Seconds(), ms(r.full1), r.full1.Seconds()/r.read.Seconds(),
		ms(r.fullN), r.fullN.Seconds()/r.read.Seconds(), r.changed, ms(r.incremental), 100*r.incremental.Seconds()/r.fullN.Seconds())
	tw.Flush()
}
