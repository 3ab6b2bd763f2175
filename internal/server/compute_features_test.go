package server_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestComputeFeaturesGolden loads the golden data set into a fresh database,
// runs ComputeFeatures through the gRPC API for each shop, and compares every
// row and column with the expected files, at both of the set's as_of
// instants (the second run also proves stale pairs are removed).
func TestComputeFeaturesGolden(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()

	for _, tc := range []struct {
		asOf, file string
		back       bool // the run goes back before the last one's as_of
	}{
		{"2025-03-01T00:00:00Z", "expected_interaction_features_as_of_2025-03-01.csv", false},
		{"2025-06-01T00:00:00Z", "expected_interaction_features.csv", false},
		{"2025-03-01T00:00:00Z", "expected_interaction_features_as_of_2025-03-01.csv", true},
	} {
		t.Run(tc.asOf, func(t *testing.T) {
			asOf := mustTime(t, tc.asOf)
			expected := testenv.ReadExpected(t, tc.file)
			perShop := map[string]int64{}
			for _, r := range expected {
				perShop[r.ShopID]++
			}
			for _, shop := range []string{"shop-0", "shop-1"} {
				sum, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: shop, AsOf: timestamppb.New(asOf), AllowPastAsOf: tc.back})
				if err != nil {
					t.Fatalf("ComputeFeatures(%s): %v", shop, err)
				}
				if sum.GetPairsWritten() != perShop[shop] {
					t.Errorf("%s: pairs_written = %d, want %d", shop, sum.GetPairsWritten(), perShop[shop])
				}
				if !sum.GetAsOf().AsTime().Equal(asOf) || sum.GetShopId() != shop || sum.GetEventsRead() == 0 {
					t.Errorf("%s: summary = %v", shop, sum)
				}
			}
			testenv.CompareTable(t, pool, expected, asOf)
		})
	}
}

func TestComputeFeaturesCustomerSubset(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()
	asOf := mustTime(t, "2025-06-01T00:00:00Z")
	customers := []string{"gid://shopify/Customer/1000", "gid://shopify/Customer/1003"}

	if _, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0", AsOf: timestamppb.New(asOf), CustomerIds: customers}); err != nil {
		t.Fatalf("ComputeFeatures: %v", err)
	}
	var want []testenv.ExpectedRow
	for _, r := range testenv.ReadExpected(t, "expected_interaction_features.csv") {
		if r.ShopID == "shop-0" && (r.CustomerID == customers[0] || r.CustomerID == customers[1]) {
			want = append(want, r)
		}
	}
	if len(want) == 0 {
		t.Fatal("the golden set has no rows for the chosen customers")
	}
	testenv.CompareTable(t, pool, want, asOf)
}

func TestComputeFeaturesRemovesStalePairsOnlyInScope(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()
	asOf := mustTime(t, "2025-06-01T00:00:00Z")
	for _, shop := range []string{"shop-0", "shop-1"} {
		if _, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: shop, AsOf: timestamppb.New(asOf)}); err != nil {
			t.Fatalf("ComputeFeatures(%s): %v", shop, err)
		}
	}
	// A pair whose events were deleted since the last run, in each shop.
	if _, err := pool.Exec(ctx, `
		INSERT INTO interaction_features (shop_id, customer_id, product_id, total_views, unique_views, view_frequency,
			engagement_score, cart_adds, cart_removes, purchases, cart_conversion_rate, view_to_purchase_rate,
			search_views, category_views, collection_views, direct_views, referral_views, mobile_views, desktop_views,
			tablet_views, interaction_quality_score, intent_score, loyalty_indicator, recommendation_score,
			purchase_quantity, purchase_value, as_of, features_version, last_computed_at)
		SELECT s, 'gone', 'gone', 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, now(), 1, now() - interval '1 day'
		  FROM unnest(ARRAY['shop-0', 'shop-1']) AS s`); err != nil {
		t.Fatal(err)
	}
	sum, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0", AsOf: timestamppb.New(asOf)})
	if err != nil {
		t.Fatalf("ComputeFeatures: %v", err)
	}
	if sum.GetPairsDeleted() != 1 {
		t.Errorf("pairs_deleted = %d, want 1", sum.GetPairsDeleted())
	}
	var shops []string
	rows, _ := pool.Query(ctx, `SELECT shop_id FROM interaction_features WHERE customer_id = 'gone' ORDER BY shop_id`)
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		shops = append(shops, s)
	}
	if rows.Err() != nil || strings.Join(shops, ",") != "shop-1" {
		t.Errorf("stale rows left = %v (err %v), want only shop-1's, which the run did not cover", shops, rows.Err())
	}
}

func TestComputeFeaturesAbortsWhileShopLocked(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()

	// Hold the shop's lock from another session, as a run on another server would.
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('featurestore/compute/' || $1, 0))`, "shop-0"); err != nil {
		t.Fatal(err)
	}
	_, err = computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0"})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("ComputeFeatures while locked: %v, want ABORTED", err)
	}
	// Another shop is not blocked.
	if _, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-1"}); err != nil {
		t.Fatalf("ComputeFeatures(shop-1) while shop-0 is locked: %v", err)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended('featurestore/compute/' || $1, 0))`, "shop-0"); err != nil {
		t.Fatal(err)
	}
	if _, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0"}); err != nil {
		t.Fatalf("ComputeFeatures after unlock: %v", err)
	}
}

// gateSink holds a run at its after-th committed batch, and every batch
// after it, until released or until the run is cancelled: the run keeps
// its shop's lock, and has committed whole batches only, for as long as a
// test needs, however fast the machine.
type gateSink struct {
	after   int64
	calls   atomic.Int64
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGateSink(after int64) *gateSink {
	return &gateSink{after: after, held: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateSink) Written(ctx context.Context, _ string, _ []store.FeatureRow, _, _ time.Time) error {
	if g.calls.Add(1) < g.after {
		return nil
	}
	g.once.Do(func() { close(g.held) })
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gateSink) Deleted(context.Context, string, []store.PairKey, time.Time) error { return nil }

// wait waits until a run is held.
func (g *gateSink) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.held:
	case <-time.After(time.Minute):
		t.Fatal("the run did not reach the gate within a minute")
	}
}

func TestComputeFeaturesConcurrentRunsOneAborts(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	// The first run waits at its first batch, holding the shop's lock.
	gate := newGateSink(1)
	client := startServer(t, pool, func(c *compute.Config) { c.Sink = gate })
	ctx := context.Background()

	stream, err := client.ComputeFeatures(ctx, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0"})
	if err != nil {
		t.Fatal(err)
	}
	gate.wait(t)
	_, err = computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0"})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("second run during the first: %v, want ABORTED", err)
	}
	close(gate.release)
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("first run: %v", err)
		}
		if msg.GetSummary() != nil {
			break
		}
	}
}

// TestComputeFeaturesCancelLeavesWholeBatches cancels a run that upserts
// its rows batch by batch, a FULL run of named customers (all of the
// shop's): the batches it committed stay, whole. (A FULL run of the whole
// shop replaces its rows at once: compute's tests stop those.)
func TestComputeFeaturesCancelLeavesWholeBatches(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	var customers []string
	if err := pool.QueryRow(context.Background(), `SELECT array_agg(DISTINCT customer_id) FROM user_interactions WHERE shop_id = 'shop-0' AND customer_id <> ''`).
		Scan(&customers); err != nil {
		t.Fatal(err)
	}
	const batch = 7
	// The run waits once it has committed three batches, until cancelled.
	gate := newGateSink(3)
	client := startServer(t, pool, func(c *compute.Config) {
		c.BatchSize = batch
		c.Sink = gate
		// Each worker writes its last rows as a short batch of its own; with
		// one, whole batches make a multiple of the batch size.
		c.Workers = 1
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.ComputeFeatures(ctx, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0", CustomerIds: customers})
	if err != nil {
		t.Fatal(err)
	}
	gate.wait(t)
	cancel()
	for {
		if _, err = stream.Recv(); err != nil {
			break
		}
	}
	if status.Code(err) != codes.Canceled {
		t.Fatalf("after cancel: %v, want CANCELED", err)
	}
	// The server notices the cancel asynchronously; wait for the run to
	// release its lock, which it does after its last transaction.
	var runStatus string
	testenv.WaitFor(t, time.Minute, "the cancelled run ends", func() bool {
		if err := pool.QueryRow(context.Background(), `SELECT status FROM feature_runs ORDER BY id DESC LIMIT 1`).Scan(&runStatus); err != nil {
			t.Fatal(err)
		}
		return runStatus != "running"
	})
	if runStatus != "cancelled" {
		t.Errorf("run status = %q, want cancelled", runStatus)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM interaction_features`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 3*batch || n%batch != 0 {
		t.Errorf("%d rows after a run cancelled after three batches of %d: want a multiple of %d, at least three (whole batches only)", n, batch, batch)
	}
}

func TestComputeFeaturesInvalidArguments(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		req   *featurestorev1.ComputeFeaturesRequest
		field string
	}{
		{"empty shop", &featurestorev1.ComputeFeaturesRequest{}, "shop_id"},
		{"unknown mode", &featurestorev1.ComputeFeaturesRequest{ShopId: "s", Mode: 99}, "mode"},
		{"as_of far in the future", &featurestorev1.ComputeFeaturesRequest{ShopId: "s", AsOf: timestamppb.New(time.Now().Add(24 * time.Hour))}, "as_of"},
		{"invalid as_of", &featurestorev1.ComputeFeaturesRequest{ShopId: "s", AsOf: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}}, "as_of"},
		{"empty customer id", &featurestorev1.ComputeFeaturesRequest{ShopId: "s", CustomerIds: []string{"c", ""}}, "customer_ids[1]"},
		{"over-long shop", &featurestorev1.ComputeFeaturesRequest{ShopId: strings.Repeat("x", 256)}, "shop_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := computeAll(ctx, t, client, tc.req)
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("got %v, want INVALID_ARGUMENT", err)
			}
			if !strings.HasPrefix(st.Message(), tc.field+":") {
				t.Errorf("message %q does not name the field %q", st.Message(), tc.field)
			}
			var found bool
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 && br.GetFieldViolations()[0].GetField() == tc.field {
					found = true
				}
			}
			if !found {
				t.Errorf("details %v lack a field violation for %q", st.Details(), tc.field)
			}
		})
	}
	// Nothing was run for any of them.
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM feature_runs`).Scan(&n); err != nil || n != 0 {
		t.Errorf("feature_runs has %d rows (err %v), want 0", n, err)
	}
}
