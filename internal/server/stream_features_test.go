package server_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// startStreamServer serves a Service whose StreamFeatures reads through x on
// addr ("127.0.0.1:0" for a free port) and returns the server and its
// address.
func startStreamServer(t *testing.T, x server.Exporter, addr string) (*grpc.Server, string) {
	t.Helper()
	srv := server.NewGRPCServer(newService(t, server.Config{Exporter: x}), health.NewServer(), testenv.Logger(), nil)
	return srv, testenv.ServeGRPC(t, srv, addr)
}

// streamClient starts a stream server on pool and returns a client of it.
func streamClient(t *testing.T, pool *pgxpool.Pool, opts ...grpc.DialOption) featurestorev1.FeatureStoreServiceClient {
	t.Helper()
	_, addr := startStreamServer(t, store.New(pool), "127.0.0.1:0")
	return featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, addr, opts...))
}

// records returns the records of msgs in order.
func records(msgs []*featurestorev1.StreamFeaturesResponse) []*featurestorev1.FeatureRecord {
	var out []*featurestorev1.FeatureRecord
	for _, m := range msgs {
		out = append(out, m.GetRecords()...)
	}
	return out
}

// expectedRecords reads a shop's rows independently of the exporter and
// keeps those for which keep is true, in API form.
func expectedRecords(t *testing.T, pool *pgxpool.Pool, shopID string, keep func(*store.StoredRow) bool) []*featurestorev1.FeatureRecord {
	t.Helper()
	var out []*featurestorev1.FeatureRecord
	for _, r := range testenv.StoredRows(t, pool, shopID) {
		if keep == nil || keep(&r) {
			out = append(out, protoconv.Record(&r))
		}
	}
	return out
}

// checkRecords fails the test unless got equals want, record by record.
func checkRecords(t *testing.T, got, want []*featurestorev1.FeatureRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("record %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

// TestStreamFeatures streams a shop with each filter and checks the rows,
// their order, the batch sizes, and that each batch's token resumes exactly
// after it.
func TestStreamFeatures(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := store.New(pool).SeedFeatureRows(ctx, "shop", 60, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := store.New(pool).SeedFeatureRows(ctx, "other-shop", 10, 3); err != nil {
		t.Fatal(err)
	}
	client := streamClient(t, pool)
	since := time.Date(2025, 6, 1, 0, 0, 30, 0, time.UTC)
	customers := []string{"gid://shopify/Customer/7", "gid://shopify/Customer/42", "gid://shopify/Customer/31", "unknown"}
	isRecent := func(r *store.StoredRow) bool { return !r.ComputedAt.Before(since) }
	isPicked := func(r *store.StoredRow) bool { return slices.Contains(customers, r.CustomerID) }

	for _, tc := range []struct {
		name  string
		req   *featurestorev1.StreamFeaturesRequest
		batch int
		keep  func(*store.StoredRow) bool
	}{
		{"whole shop, default batch", &featurestorev1.StreamFeaturesRequest{}, 1000, nil},
		{"whole shop, batches of 50", &featurestorev1.StreamFeaturesRequest{BatchSize: 50}, 50, nil},
		{"one row per batch", &featurestorev1.StreamFeaturesRequest{BatchSize: 1, CustomerIds: customers[:1]}, 1,
			func(r *store.StoredRow) bool { return r.CustomerID == customers[0] }},
		{"updated_since", &featurestorev1.StreamFeaturesRequest{BatchSize: 64, UpdatedSince: timestamppb.New(since)}, 64, isRecent},
		{"customer_ids", &featurestorev1.StreamFeaturesRequest{BatchSize: 4, CustomerIds: customers}, 4, isPicked},
		{"both filters", &featurestorev1.StreamFeaturesRequest{BatchSize: 3, CustomerIds: customers, UpdatedSince: timestamppb.New(since)}, 3,
			func(r *store.StoredRow) bool { return isRecent(r) && isPicked(r) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.req.ShopId = "shop"
			want := expectedRecords(t, pool, "shop", tc.keep)
			if len(want) == 0 {
				t.Fatal("the case selects no rows")
			}
			msgs, err := testenv.StreamAll(ctx, client, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, records(msgs), want)
			seen := 0
			for i, m := range msgs {
				if n := len(m.GetRecords()); n != tc.batch && !(i == len(msgs)-1 && n > 0 && n < tc.batch) {
					t.Fatalf("batch %d of %d has %d rows, want %d", i, len(msgs), n, tc.batch)
				}
				seen += len(m.GetRecords())
				if i%7 != 0 && i != len(msgs)-1 {
					continue // resuming from a sample of the tokens is enough
				}
				resume := proto.Clone(tc.req).(*featurestorev1.StreamFeaturesRequest)
				resume.ResumeToken = m.GetResumeToken()
				rest, err := testenv.StreamAll(ctx, client, resume)
				if err != nil {
					t.Fatalf("resume after batch %d: %v", i, err)
				}
				checkRecords(t, records(rest), want[seen:])
			}
		})
	}
}

// TestStreamFeaturesResumesOnRestartedServer cuts a stream by stopping its
// server mid-way, starts a new server (its own pool, the same address and
// database), resumes there with the last token received, and checks that
// the rows received add up to the table's, each once.
func TestStreamFeaturesResumesOnRestartedServer(t *testing.T) {
	t.Parallel()
	pool, url := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := store.New(pool).SeedFeatureRows(ctx, "shop", 200, 10); err != nil {
		t.Fatal(err)
	}
	want := expectedRecords(t, pool, "shop", nil)
	first, addr := startStreamServer(t, store.New(pool), "127.0.0.1:0")
	conn := testenv.DialGRPC(t, addr)
	client := featurestorev1.NewFeatureStoreServiceClient(conn)

	stream, err := client.StreamFeatures(ctx, &featurestorev1.StreamFeaturesRequest{ShopId: "shop", BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []*featurestorev1.FeatureRecord
	var token string
	for range 3 {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got, token = append(got, msg.GetRecords()...), msg.GetResumeToken()
	}
	first.Stop()
	// The client sees the cut: the rest of the stream fails rather than
	// ending cleanly (messages already in its buffers may still arrive).
	for {
		msg, err := stream.Recv()
		if err == nil {
			got, token = append(got, msg.GetRecords()...), msg.GetResumeToken()
			continue
		}
		if errors.Is(err, io.EOF) {
			t.Fatal("the stream ended cleanly although its server was stopped mid-way")
		}
		break
	}
	if len(got) >= len(want) {
		t.Fatalf("the cut came after all %d rows; the test needs it mid-way", len(got))
	}

	otherPool, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer otherPool.Close()
	startStreamServer(t, store.New(otherPool), addr)
	rest, err := testenv.StreamAll(ctx, client, &featurestorev1.StreamFeaturesRequest{ShopId: "shop", BatchSize: 300, ResumeToken: token}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("resume on the new server: %v", err)
	}
	checkRecords(t, append(got, records(rest)...), want)
}

func TestStreamFeaturesRejects(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := store.New(pool).SeedFeatureRows(ctx, "shop", 3, 2); err != nil {
		t.Fatal(err)
	}
	client := streamClient(t, pool)
	since := timestamppb.New(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	msgs, err := testenv.StreamAll(ctx, client, &featurestorev1.StreamFeaturesRequest{ShopId: "shop", BatchSize: 2, UpdatedSince: since, CustomerIds: []string{"gid://shopify/Customer/1", "gid://shopify/Customer/2"}})
	if err != nil || len(msgs) < 2 {
		t.Fatalf("stream for a token: %d messages, %v", len(msgs), err)
	}
	token := msgs[0].GetResumeToken()
	tampered := []byte(token)
	tampered[len(tampered)/2] ^= 0x01

	for _, tc := range []struct {
		name  string
		req   *featurestorev1.StreamFeaturesRequest
		code  codes.Code
		field string
	}{
		{"no shop", &featurestorev1.StreamFeaturesRequest{}, codes.InvalidArgument, "shop_id"},
		{"long shop", &featurestorev1.StreamFeaturesRequest{ShopId: strings.Repeat("s", 256)}, codes.InvalidArgument, "shop_id"},
		{"negative batch", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", BatchSize: -1}, codes.InvalidArgument, "batch_size"},
		{"batch too large", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", BatchSize: 10_001}, codes.InvalidArgument, "batch_size"},
		{"bad updated_since", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", UpdatedSince: &timestamppb.Timestamp{Nanos: -1}}, codes.InvalidArgument, "updated_since"},
		{"empty customer id", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", CustomerIds: []string{"a", ""}}, codes.InvalidArgument, "customer_ids[1]"},
		{"too many customers", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", CustomerIds: make([]string, 10_001)}, codes.InvalidArgument, "customer_ids"},
		{"as_of without compute", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", AsOf: since}, codes.InvalidArgument, "as_of"},
		{"garbage token", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", ResumeToken: "not-a-token"}, codes.InvalidArgument, "resume_token"},
		{"truncated token", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", ResumeToken: token[:len(token)-2]}, codes.InvalidArgument, "resume_token"},
		{"altered token", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", ResumeToken: string(tampered)}, codes.InvalidArgument, "resume_token"},
		{"token of another shop", &featurestorev1.StreamFeaturesRequest{ShopId: "shop2", UpdatedSince: since,
			CustomerIds: []string{"gid://shopify/Customer/1", "gid://shopify/Customer/2"}, ResumeToken: token}, codes.InvalidArgument, "resume_token"},
		{"token without its filters", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", ResumeToken: token}, codes.InvalidArgument, "resume_token"},
		{"token with other customers", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", UpdatedSince: since,
			CustomerIds: []string{"gid://shopify/Customer/1"}, ResumeToken: token}, codes.InvalidArgument, "resume_token"},
		{"token with another updated_since", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", UpdatedSince: timestamppb.New(since.AsTime().Add(time.Second)),
			CustomerIds: []string{"gid://shopify/Customer/1", "gid://shopify/Customer/2"}, ResumeToken: token}, codes.InvalidArgument, "resume_token"},
		{"compute", &featurestorev1.StreamFeaturesRequest{ShopId: "shop", Compute: true, AsOf: since}, codes.Unimplemented, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msgs, err := testenv.StreamAll(ctx, client, tc.req)
			st, _ := status.FromError(err)
			if st.Code() != tc.code || len(msgs) != 0 {
				t.Fatalf("got %d messages and %v, want %s", len(msgs), err, tc.code)
			}
			if tc.field == "" {
				if !strings.Contains(st.Message(), "compute") {
					t.Errorf("message %q does not say what is not implemented", st.Message())
				}
				return
			}
			if !strings.HasPrefix(st.Message(), tc.field+":") {
				t.Errorf("message %q does not name the field %q", st.Message(), tc.field)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if !slices.Equal(fields, []string{tc.field}) {
				t.Errorf("field violations %v, want [%s]", fields, tc.field)
			}
		})
	}

	t.Run("the same filters in another order accept the token", func(t *testing.T) {
		rest, err := testenv.StreamAll(ctx, client, &featurestorev1.StreamFeaturesRequest{ShopId: "shop", BatchSize: 50, UpdatedSince: since,
			CustomerIds: []string{"gid://shopify/Customer/2", "gid://shopify/Customer/1"}, ResumeToken: token})
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, records(rest), records(msgs[1:]))
	})
	t.Run("unknown shop", func(t *testing.T) {
		msgs, err := testenv.StreamAll(ctx, client, &featurestorev1.StreamFeaturesRequest{ShopId: "no-such-shop"})
		if status.Code(err) != codes.NotFound || len(msgs) != 0 {
			t.Fatalf("got %d messages and %v, want NOT_FOUND (TestUnknownShop has the cases)", len(msgs), err)
		}
	})
	t.Run("no exporter", func(t *testing.T) {
		srv := server.NewGRPCServer(newService(t, server.Config{}), health.NewServer(), testenv.Logger(), nil)
		bare := featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, testenv.ServeGRPC(t, srv, "127.0.0.1:0")))
		if _, err := testenv.StreamAll(ctx, bare, &featurestorev1.StreamFeaturesRequest{ShopId: "shop"}); status.Code(err) != codes.Unimplemented {
			t.Fatalf("StreamFeatures without an exporter: %v, want UNIMPLEMENTED", err)
		}
	})
}

// countingExporter counts the rows its exporter has handed to the service:
// rows read from Postgres that the client may not have received yet.
type countingExporter struct {
	server.Exporter
	rows atomic.Int64
	// inService is 1 while the service holds a row handed to it, 0
	// between rows.
	inService atomic.Int64
}

func (c *countingExporter) ExportRows(ctx context.Context, req store.ExportRequest, fn func(*store.StoredRow) error) error {
	return c.Exporter.ExportRows(ctx, req, func(r *store.StoredRow) error {
		c.rows.Add(1)
		c.inService.Add(1)
		defer c.inService.Add(-1)
		return fn(r)
	})
}

// heldUp reports whether the service holds the exporter up at the end of
// a batch, as it does once its two batches wait for a client that stopped
// reading, the same row at two looks in a row: the service hands a batch
// over when its last row comes, and keeps that row's call until the
// previous batch has been sent.
func (c *countingExporter) heldUp(batch int64) func() bool {
	last := int64(-1)
	return func() bool {
		n := c.rows.Load()
		held := c.inService.Load() == 1 && n > 0 && n%batch == 0 && n == c.rows.Load()
		if !held {
			last = -1
			return false
		}
		if n != last {
			last = n
			return false
		}
		return true
	}
}

// TestStreamFeaturesSlowClient holds a stream open without reading it and
// checks that the server read only a few batches ahead from Postgres and
// that the process' heap did not take in the shop, which would take tens of
// MiB here; then that the stream still delivers every row. It does not run
// in parallel: other tests' allocations would count in the heap.
func TestStreamFeaturesSlowClient(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	const total = 500 * 100
	if _, err := store.New(pool).SeedFeatureRows(ctx, "shop", 500, 100); err != nil {
		t.Fatal(err)
	}
	x := &countingExporter{Exporter: store.New(pool)}
	_, addr := startStreamServer(t, x, "127.0.0.1:0")
	// Fixed flow-control windows: gRPC would otherwise let the client's
	// buffers grow to megabytes, which is the client's memory, not the
	// server's.
	client := featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, addr,
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10)))
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()

	const batch = 100
	stream, err := client.StreamFeatures(ctx, &featurestorev1.StreamFeaturesRequest{ShopId: "shop", BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Minute, "the service stops reading ahead of the stalled client", x.heldUp(batch))
	ahead := x.rows.Load()
	grown := heap() - before
	t.Logf("while the client stalls: %d rows read from Postgres, heap grown by %d KiB", ahead, grown>>10)
	// Two batches in the service, about 64 KiB in each direction's
	// transport buffers (under 200 rows each): well under 2,000 rows.
	if ahead > 2000 {
		t.Errorf("the server read %d of %d rows ahead of a client that stalled after one batch", ahead, total)
	}
	if grown > 8<<20 {
		t.Errorf("heap grew by %d MiB while the client stalled", grown>>20)
	}

	n := batch
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n += len(msg.GetRecords())
	}
	if n != total || x.rows.Load() != total {
		t.Fatalf("received %d rows, exporter read %d, want %d", n, x.rows.Load(), total)
	}
}

// TestStreamFeaturesCancelEndsQuery cancels a stalled stream and checks
// that its query stops running in Postgres.
func TestStreamFeaturesCancelEndsQuery(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := store.New(pool).SeedFeatureRows(ctx, "shop", 500, 100); err != nil {
		t.Fatal(err)
	}
	client := streamClient(t, pool, grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	running := func() int64 {
		var n int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
			  AND query LIKE 'SELECT customer_id, product_id, as_of%FROM interaction_features%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.StreamFeatures(callCtx, &featurestorev1.StreamFeaturesRequest{ShopId: "shop", BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if n := running(); n != 1 {
		t.Fatalf("%d export queries running while the client stalls, want 1", n)
	}
	cancel()
	testenv.WaitFor(t, time.Minute, "the export query ends after the call was cancelled", func() bool { return running() == 0 })
	for {
		if _, err = stream.Recv(); err != nil {
			break
		}
	}
	if status.Code(err) != codes.Canceled {
		t.Errorf("stream after cancel: %v, want CANCELLED", err)
	}
}
