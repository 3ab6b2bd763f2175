package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
)

func init() { register("ingest", benchIngest) }

const (
	// ingestBatch is the number of interactions per IngestInteractions call
	// and per COPY.
	ingestBatch = 5_000
	// ingestRows is how many interactions each path writes per round.
	ingestRows = 200_000
)

type ingestResult struct {
	rows         int
	copy, ingest time.Duration
	// retry is the same calls sent again: every row a duplicate, which
	// takes the stage table and INSERT ... ON CONFLICT.
	retry time.Duration
	// ratio is the median over the rounds of copy time / ingest time, each
	// round's pair measured back to back: on a shared machine it drifts
	// less than the ratio of the medians.
	ratio float64
	// serverCPU is the server process' CPU time per ingested row.
	serverCPU time.Duration
}

// benchIngest times IngestInteractions through a server process, in calls
// of ingestBatch, against pgx's CopyFrom of the same rows straight into
// user_interactions in batches of the same size, each path into a scratch
// shop of its own, the order alternating between rounds; then the same
// calls again, all duplicates, as a client's retry makes them. The scratch
// rows are removed after each round so that every round meets the same
// table.
func benchIngest(ctx context.Context, e env) error {
	srv, err := startServer(ctx, e.opts.binary, e.url, "", "--metrics-addr=")
	if err != nil {
		return err
	}
	defer srv.stop()
	client := featurestorev1.NewFeatureStoreServiceClient(srv.conn)
	var copies, ingests, retries, cpus []time.Duration
	var ratios []float64
	for round := range e.opts.rounds {
		copyShop, ingestShop := fmt.Sprintf("bench-ingest-copy-%d", round), fmt.Sprintf("bench-ingest-api-%d", round)
		if err := dropShops(ctx, e.pool, copyShop, ingestShop); err != nil {
			return err
		}
		msgs := benchInteractions(ingestShop, ingestRows, uint64(round))
		copyRows := copyValues(benchInteractions(copyShop, ingestRows, uint64(round)))
		timeCopy := func() error {
			d, err := copyBatches(ctx, e.pool, copyRows)
			copies = append(copies, d)
			return err
		}
		timeIngest := func() error {
			cpuBefore, err := srv.cpuTime()
			if err != nil {
				return err
			}
			d, err := ingestBatches(ctx, client, msgs, ingestBatch)
			ingests = append(ingests, d)
			cpuAfter, cerr := srv.cpuTime()
			cpus = append(cpus, (cpuAfter-cpuBefore)/ingestRows)
			return errors.Join(err, cerr)
		}
		first, second := timeCopy, timeIngest
		if round%2 == 1 {
			first, second = second, first
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		d, err := ingestBatches(ctx, client, msgs, 0)
		if err != nil {
			return fmt.Errorf("retry: %w", err)
		}
		retries = append(retries, d)
		ratios = append(ratios, copies[round].Seconds()/ingests[round].Seconds())
		fmt.Fprintf(os.Stderr, "  ingest round %d: copy %s, IngestInteractions %s, retried %s\n", round+1,
			copies[round].Round(time.Millisecond), ingests[round].Round(time.Millisecond), d.Round(time.Millisecond))
		if err := dropShops(ctx, e.pool, copyShop, ingestShop); err != nil {
			return err
		}
	}
	printIngestResult(ingestResult{rows: ingestRows, copy: median(copies), ingest: median(ingests), retry: median(retries), serverCPU: median(cpus),
		ratio: medianFloat(ratios)})
	return nil
}

func medianFloat(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchInteractions returns n interactions of a shop as a storefront makes
// them: mostly product views of known customers, some anonymous, with the
// categorical columns and durations filled in, spread over 30 days.
func benchInteractions(shopID string, n int, seed uint64) []*featurestorev1.Interaction {
	rng := rand.New(rand.NewPCG(seed, 42))
	events := []string{"product_viewed", "product_viewed", "product_viewed", "product_viewed", "product_added_to_cart", "page_viewed", "checkout_completed"}
	pages := []string{"product", "search", "collection", "home"}
	devices := []string{"mobile", "mobile", "desktop", "tablet"}
	referrers := []string{"direct", "internal", "search_engine", "social", "email", "paid"}
	end := time.Now().Add(-time.Hour)
	out := make([]*featurestorev1.Interaction, n)
	for i := range out {
		m := &featurestorev1.Interaction{
			Id:           fmt.Sprintf("%s/ev-%08d", shopID, i),
			ShopId:       shopID,
			ProductId:    proto.String(fmt.Sprintf("gid://shopify/Product/%d", 9000+rng.IntN(2000))),
			EventType:    events[rng.IntN(len(events))],
			PageType:     proto.String(pages[rng.IntN(len(pages))]),
			DeviceType:   proto.String(devices[rng.IntN(len(devices))]),
			ReferrerType: proto.String(referrers[rng.IntN(len(referrers))]),
			ViewDuration: proto.Float64(float64(rng.IntN(300_000)) / 1000),
			CreatedAt:    timestamppb.New(end.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))),
		}
		if rng.IntN(5) > 0 {
			m.CustomerId = proto.String(fmt.Sprintf("gid://shopify/Customer/%d", 1000+rng.IntN(5000)))
		}
		out[i] = m
	}
	return out
}

// copyColumns are user_interactions' columns in the order copyValues gives.
var copyColumns = []string{"id", "shop_id", "customer_id", "product_id", "event_type", "page_type", "device_type", "referrer_type", "view_duration", "created_at"}

// copyValues returns the interactions as CopyFrom rows, built before the
// clock starts so that COPY is measured alone.
func copyValues(msgs []*featurestorev1.Interaction) [][]any {
	rows := make([][]any, len(msgs))
	for i, m := range msgs {
		rows[i] = []any{m.Id, m.ShopId, m.CustomerId, m.ProductId, m.EventType, m.PageType, m.DeviceType, m.ReferrerType, m.ViewDuration, m.CreatedAt.AsTime()}
	}
	return rows
}

// copyBatches writes rows into user_interactions with CopyFrom, one
// transaction per ingestBatch rows, as the API does, and returns the time
// it took.
func copyBatches(ctx context.Context, pool *pgxpool.Pool, rows [][]any) (time.Duration, error) {
	start := time.Now()
	for i := 0; i < len(rows); i += ingestBatch {
		batch := rows[i:min(i+ingestBatch, len(rows))]
		n, err := pool.CopyFrom(ctx, pgx.Identifier{"user_interactions"}, copyColumns, pgx.CopyFromRows(batch))
		if err != nil {
			return 0, fmt.Errorf("copy: %w", err)
		}
		if n != int64(len(batch)) {
			return 0, fmt.Errorf("copy wrote %d rows of %d", n, len(batch))
		}
	}
	return time.Since(start), nil
}

// ingestBatches sends msgs through IngestInteractions, ingestBatch at a
// time, checks that each call inserted wantInserted rows (a whole batch, or
// none when it is sent again) and returns the time it took.
func ingestBatches(ctx context.Context, client featurestorev1.FeatureStoreServiceClient, msgs []*featurestorev1.Interaction, wantInserted int64) (time.Duration, error) {
	start := time.Now()
	for i := 0; i < len(msgs); i += ingestBatch {
		batch := msgs[i:min(i+ingestBatch, len(msgs))]
		resp, err := client.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{Interactions: batch})
		if err != nil {
			return 0, fmt.Errorf("ingest: %w", err)
		}
		if resp.GetInserted() != min(wantInserted, int64(len(batch))) || resp.GetInserted()+resp.GetDuplicates() != int64(len(batch)) {
			return 0, fmt.Errorf("ingest of %d rows answered %v, want %d inserted", len(batch), resp, wantInserted)
		}
	}
	return time.Since(start), nil
}

// dropShops removes the scratch shops' rows and vacuums, so that the next
// round writes into the table as this one found it.
func dropShops(ctx context.Context, pool *pgxpool.Pool, shops ...string) error {
	if _, err := pool.Exec(ctx, `DELETE FROM user_interactions WHERE shop_id = ANY($1)`, shops); err != nil {
		return fmt.Errorf("remove scratch rows: %w", err)
	}
	if _, err := pool.Exec(ctx, `VACUUM user_interactions`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}

func printIngestResult(r ingestResult) {
	fmt.Printf("\nIngestInteractions in calls of %d against CopyFrom of the same rows into user_interactions, %d rows a round\n", ingestBatch, r.rows)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rows\tcopy (median)\tingest (median)\tcopy rows/s\tingest rows/s\tingest / copy (median of rounds)\tserver CPU/row\tretried rows/s\t")
	fmt.Fprintf(tw, "%d\t%s\t%s\t%.0f\t%.0f\t%.2fx\t%s\t%.0f\t\n", r.rows,
		r.copy.Round(time.Millisecond), r.ingest.Round(time.Millisecond),
		float64(r.rows)/r.copy.Seconds(), float64(r.rows)/r.ingest.Seconds(),
		r.ratio, r.serverCPU, float64(r.rows)/r.retry.Seconds())
	tw.Flush()
}
