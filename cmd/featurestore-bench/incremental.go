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
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
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
	// first is a FULL run of the shop without stored rows; rerun the same
	// run over the rows of the previous one, which it replaces.
	read, first, rerun time.Duration
	incremental        time.Duration
	peakRSS            int64
}

// benchIncremental times, on the largest --events shop, the ordered read of
// its events (the floor of a run), a first FULL ComputeFeatures run (the
// shop's stored rows removed before it), a FULL rerun over the rows of the
// previous run, and an INCREMENTAL run after 1% of the pairs got a new
// event, the rounds alternating the cases, through a server computing with
// the default number of workers (one per CPU); then the server's peak
// memory. Then it removes the events it added and brings the table back up
// to date.
func benchIncremental(ctx context.Context, e env) error {
	c := benchShop(slices.Max(e.opts.events))
	if err := ensureShop(ctx, e, c); err != nil {
		return err
	}
	floor, err := scanFloor(ctx, e.url, c.ShopID, c.End)
	if err != nil {
		return err
	}
	srv, err := startServer(ctx, e.opts.binary, e.url, "")
	if err != nil {
		return err
	}
	defer srv.stop()
	client := featurestorev1.NewFeatureStoreServiceClient(srv.conn)
	run := func(mode featurestorev1.ComputeMode) (*featurestorev1.ComputeSummary, time.Duration, error) {
		start := time.Now()
		sum, err := computeSummary(ctx, client, &featurestorev1.ComputeFeaturesRequest{ShopId: c.ShopID, AsOf: timestamppb.New(c.End), Mode: mode})
		return sum, time.Since(start), err
	}

	// A fresh shop's first FULL run consumes the seed's change log: a
	// warm-up run makes every round measure the same work.
	if _, _, err := run(featurestorev1.ComputeMode_COMPUTE_MODE_FULL); err != nil {
		return fmt.Errorf("warm-up full run: %w", err)
	}
	// The server's default: one worker per CPU of this machine, which runs
	// Postgres too.
	res := incrementalResult{workers: runtime.NumCPU()}
	var reads, firsts, reruns, incrementals []time.Duration
	for round := range e.opts.rounds {
		start := time.Now()
		rows, err := copyRows(ctx, e.pool, floor, io.Discard)
		if err != nil {
			return err
		}
		reads = append(reads, time.Since(start))
		res.events = rows

		// A first run finds no rows of the shop, and a table whose space
		// the removed rows left is reclaimed, as after a while it is.
		if _, err := e.pool.Exec(ctx, `DELETE FROM interaction_features WHERE shop_id = $1`, c.ShopID); err != nil {
			return fmt.Errorf("remove the shop's rows: %w", err)
		}
		if _, err := e.pool.Exec(ctx, `VACUUM interaction_features`); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
		sum, d, err := run(featurestorev1.ComputeMode_COMPUTE_MODE_FULL)
		if err != nil {
			return fmt.Errorf("first full run: %w", err)
		}
		firsts = append(firsts, d)
		res.pairs = sum.GetPairsWritten()
		if _, d, err = run(featurestorev1.ComputeMode_COMPUTE_MODE_FULL); err != nil {
			return fmt.Errorf("full rerun: %w", err)
		}
		reruns = append(reruns, d)

		if res.changed, err = changePairs(ctx, e.pool, c.ShopID, c.End, round); err != nil {
			return err
		}
		if sum, d, err = run(featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL); err != nil {
			return fmt.Errorf("incremental run: %w", err)
		}
		if sum.GetMode() != featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL {
			return fmt.Errorf("the incremental run was done as %s", sum.GetMode())
		}
		incrementals = append(incrementals, d)
		fmt.Fprintf(os.Stderr, "  %s round %d: read %s, first full %s, full rerun %s, incremental after %d changed pairs %s\n",
			c.ShopID, round+1, reads[round].Round(time.Millisecond), firsts[round].Round(time.Millisecond),
			reruns[round].Round(time.Millisecond), res.changed, incrementals[round].Round(time.Millisecond))
	}
	res.read, res.first, res.rerun, res.incremental = median(reads), median(firsts), median(reruns), median(incrementals)
	if res.peakRSS, err = srv.peakRSS(); err != nil {
		return err
	}

	// Leave the shop as seeded for the other benchmarks.
	if _, err := e.pool.Exec(ctx, `DELETE FROM user_interactions WHERE shop_id = $1 AND id LIKE $2`, c.ShopID, changedEventPrefix+"%"); err != nil {
		return fmt.Errorf("remove the added events: %w", err)
	}
	if _, _, err := run(featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL); err != nil {
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

func printIncrementalResult(r incrementalResult) {
	fmt.Println("\nComputeFeatures FULL, a first run (no stored rows) and a rerun (replacing the previous run's rows), against the")
	fmt.Println("ordered read of the same events; then INCREMENTAL after 1% of the pairs changed (medians; " + strconv.Itoa(r.workers) + " workers)")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "events\tpairs\tread\tfirst FULL\t/ read\tFULL rerun\t/ read (target <= 1.5x)\tserver peak RSS\tchanged pairs\tINCREMENTAL\t/ FULL rerun (target < 5%)\t")
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.2fx\t%s\t%.2fx\t%.1f MiB\t%d\t%s\t%.1f%%\t\n", r.events, r.pairs,
		ms(r.read), ms(r.first), r.first.Seconds()/r.read.Seconds(), ms(r.rerun), r.rerun.Seconds()/r.read.Seconds(),
		float64(r.peakRSS)/(1<<20), r.changed, ms(r.incremental), 100*r.incremental.Seconds()/r.rerun.Seconds())
	tw.Flush()
}
