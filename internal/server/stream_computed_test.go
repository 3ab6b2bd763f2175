package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// storedRows converts streamed records back to rows, to compare them with
// the golden files.
func storedRows(recs []*featurestorev1.FeatureRecord) []store.StoredRow {
	rows := make([]store.StoredRow, len(recs))
	for i, r := range recs {
		rows[i] = store.StoredRow{CustomerID: r.GetCustomerId(), ProductID: r.GetProductId(), Vector: protoconv.Vector(r.GetFeatures()),
			AsOf: r.GetAsOf().AsTime(), ComputedAt: r.GetComputedAt().AsTime(), Version: r.GetFeaturesVersion()}
	}
	return rows
}

// TestStreamFeaturesComputedAtAPastInstant streams the golden shops
// computed at 2025-03-01 with compute = true: every row equals the expected
// file, in batches of the size asked, and nothing is stored.
func TestStreamFeaturesComputedAtAPastInstant(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	client := startServer(t, pool, nil)
	asOf := mustTime(t, "2025-03-01T00:00:00Z")
	expected := testenv.ReadExpected(t, "expected_interaction_features_as_of_2025-03-01.csv")
	for _, shop := range []string{"shop-0", "shop-1"} {
		msgs, err := testenv.StreamAll(context.Background(), client, &featurestorev1.StreamFeaturesRequest{
			ShopId: shop, Compute: true, AsOf: timestamppb.New(asOf), BatchSize: 100})
		if err != nil {
			t.Fatalf("StreamFeatures(%s): %v", shop, err)
		}
		for i, m := range msgs {
			if n := len(m.GetRecords()); n != 100 && i != len(msgs)-1 || n == 0 || n > 100 {
				t.Errorf("%s: batch %d of %d holds %d records, want 100 (fewer only in the last)", shop, i, len(msgs), n)
			}
		}
		testenv.CompareRows(t, shop, storedRows(records(msgs)), expected, asOf)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM interaction_features`).Scan(&n); err != nil || n != 0 {
		t.Errorf("interaction_features holds %d rows (err %v) after computed streams, want 0", n, err)
	}
}

// TestStreamFeaturesComputedResumes stops a computed stream after two
// batches and resumes it with the last token: the two parts make the whole,
// and the token resumes nothing but a stream computed at the same instant.
func TestStreamFeaturesComputedResumes(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	client := startComputeStreamServer(t, pool)
	ctx := context.Background()
	req := func(asOf, token string) *featurestorev1.StreamFeaturesRequest {
		return &featurestorev1.StreamFeaturesRequest{ShopId: "shop-0", Compute: true, AsOf: timestamppb.New(mustTime(t, asOf)),
			BatchSize: 50, ResumeToken: token}
	}
	whole, err := testenv.StreamAll(ctx, client, req("2025-06-01T00:00:00Z", ""))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := client.StreamFeatures(ctx, req("2025-06-01T00:00:00Z", ""))
	if err != nil {
		t.Fatal(err)
	}
	var first []*featurestorev1.StreamFeaturesResponse
	for range 2 {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, msg)
	}
	token := first[1].GetResumeToken()
	rest, err := testenv.StreamAll(ctx, client, req("2025-06-01T00:00:00Z", token))
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	key := func(r *featurestorev1.FeatureRecord) string { return r.GetCustomerId() + "/" + r.GetProductId() }
	got, want := append(records(first), records(rest)...), records(whole)
	if !slices.EqualFunc(got, want, func(a, b *featurestorev1.FeatureRecord) bool { return key(a) == key(b) }) {
		t.Errorf("%d + %d resumed records differ from the %d of one stream", len(records(first)), len(records(rest)), len(want))
	}

	for _, tc := range []struct {
		name  string
		req   *featurestorev1.StreamFeaturesRequest
		field string
	}{
		{"another as_of", req("2025-05-01T00:00:00Z", token), "resume_token"},
		{"stored rows", &featurestorev1.StreamFeaturesRequest{ShopId: "shop-0", ResumeToken: token}, "resume_token"},
		{"without as_of", &featurestorev1.StreamFeaturesRequest{ShopId: "shop-0", Compute: true, ResumeToken: token}, "as_of"},
		{"with updated_since", &featurestorev1.StreamFeaturesRequest{ShopId: "shop-0", Compute: true,
			AsOf: timestamppb.New(mustTime(t, "2025-06-01T00:00:00Z")), UpdatedSince: timestamppb.Now()}, "updated_since"},
	} {
		_, err := testenv.StreamAll(ctx, client, tc.req)
		if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), tc.field+":") {
			t.Errorf("%s: %v, want INVALID_ARGUMENT naming %s", tc.name, err, tc.field)
		}
	}
}

// startComputeStreamServer serves StreamFeatures of both kinds, stored and
// computed, from pool, and returns a client of it.
func startComputeStreamServer(t *testing.T, pool *pgxpool.Pool) featurestorev1.FeatureStoreServiceClient {
	t.Helper()
	st := store.New(pool)
	engine := newEngine(t, st, compute.DefaultConfig())
	svc := newService(t, server.Config{Computer: engine, Rows: engine, Exporter: st})
	addr := testenv.ServeGRPC(t, server.NewGRPCServer(svc, health.NewServer(), testenv.Logger(), nil), "127.0.0.1:0")
	return featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, addr))
}
