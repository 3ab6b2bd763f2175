package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/demo"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

const bulkShop = "bulk-shop"

// bulkServer is a running `featurestore serve` and clients of it.
type bulkServer struct {
	pool    *pgxpool.Pool // the test's own pool on the server's database
	addr    string
	metrics string
	// secret is the API key the clients send: one of bulkShop with every
	// scope, or "" when the server serves without keys.
	secret string
	client featurestorev1.FeatureStoreServiceClient
	health healthpb.HealthClient
}

// startBulkServer seeds a shop of 5,000 stored rows and events that make
// some 7,000 pairs, and runs serve on it with Redis, an 8-connection pool
// and extra flags, until the test ends. With keys, serve checks API keys
// (--auth keys) and the clients send a key of the shop; without, it
// serves without authentication (--auth none).
func startBulkServer(t *testing.T, keys bool, flags ...string) *bulkServer {
	t.Helper()
	pool, url := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := store.New(pool).SeedFeatureRows(ctx, bulkShop, 100, 50); err != nil {
		t.Fatal(err)
	}
	cfg := demo.DefaultConfig()
	cfg.ShopID, cfg.Events = bulkShop, 20_000
	if _, err := demo.Seed(ctx, store.New(pool), cfg, nil); err != nil {
		t.Fatal(err)
	}
	s := &bulkServer{pool: pool, addr: freeAddr(t), metrics: freeAddr(t)}
	authFlag := "none"
	if keys {
		authFlag = "keys"
		s.secret = createKey(t, pool, "bulk", []string{bulkShop}, auth.ScopeRead|auth.ScopeExport|auth.ScopeIngest)
	}
	conn := s.dial(t)
	s.client = featurestorev1.NewFeatureStoreServiceClient(conn)
	s.health = healthpb.NewHealthClient(conn)
	args := append([]string{"--database-url", url + "&pool_max_conns=8", "--redis-url", testenv.Redis(t), "--auth", authFlag,
		"--addr", s.addr, "--metrics-addr", s.metrics, "--health-interval", "1s", "--migrate=false", "--log-level", "error"}, flags...)
	serveInProcess(t, args, func() error {
		res, err := s.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("health is %s", res.GetStatus())
		}
		return err
	})
	return s
}

// dial returns a connection to the server whose calls carry the server's
// API key, if it has one.
func (s *bulkServer) dial(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	if s.secret != "" {
		opts = append(opts,
			grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				return invoker(bearer(ctx, s.secret), method, req, reply, cc, opts...)
			}),
			grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				return streamer(bearer(ctx, s.secret), desc, cc, method, opts...)
			}))
	}
	return testenv.DialGRPC(t, s.addr, opts...)
}

// stalledStreams starts n calls of req on a connection of their own and
// reads nothing: their flow-control windows fill and the server's sends
// block. They end with ctx, or with the test.
func (s *bulkServer) stalledStreams(t *testing.T, ctx context.Context, n int, req *featurestorev1.StreamFeaturesRequest) []featurestorev1.FeatureStoreService_StreamFeaturesClient {
	t.Helper()
	// A fixed 64 KiB window (the default grows with the measured bandwidth)
	// fills after a few hundred rows.
	conn := s.dial(t, grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	client := featurestorev1.NewFeatureStoreServiceClient(conn)
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	streams := make([]featurestorev1.FeatureStoreService_StreamFeaturesClient, n)
	for i := range streams {
		var err error
		if streams[i], err = client.StreamFeatures(ctx, req); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	return streams
}

// activeQueries returns the number of queries the server's bulk pool runs.
func (s *bulkServer) activeQueries(t *testing.T) int {
	t.Helper()
	var n int
	err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'featurestore/bulk' AND state = 'active'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// metric returns the value of the server's metric name (with its labels,
// as /metrics prints them), or -1 when it is not there.
func (s *bulkServer) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	return -1
}

// waitFor polls cond every 20 ms until it holds, failing the test after a
// minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// onlineProbe is one call an online client makes while bulk work runs.
type onlineProbe struct {
	name string
	call func(ctx context.Context, round int) error
}

func (s *bulkServer) onlineProbes() []onlineProbe {
	products := make([]string, 100)
	for i := range products {
		products[i] = fmt.Sprintf("gid://shopify/Product/%d", i*977%5000)
	}
	return []onlineProbe{
		{"GetFeatures (uncached)", func(ctx context.Context, round int) error {
			// A customer read for the first time misses the cache and reads
			// Postgres.
			_, err := s.client.GetFeatures(ctx, &featurestorev1.GetFeaturesRequest{
				ShopId: bulkShop, CustomerId: fmt.Sprintf("gid://shopify/Customer/%d", 1+round), ProductIds: products})
			return err
		}},
		{"IngestInteractions", func(ctx context.Context, round int) error {
			_, err := s.client.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{Interactions: []*featurestorev1.Interaction{{
				Id: fmt.Sprintf("probe-%d", round), ShopId: bulkShop, EventType: "page_viewed",
				CreatedAt: timestamppb.New(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)),
			}}})
			return err
		}},
		{"health", func(ctx context.Context, round int) error {
			for _, service := range []string{"", "featurestore.v1.FeatureStoreService"} {
				res, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
				if err != nil {
					return err
				}
				if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					return fmt.Errorf("service %q is %s", service, res.GetStatus())
				}
			}
			return nil
		}},
	}
}

// checkOnline makes each online call rounds times and fails the test for
// any that fails or takes 2 s or more. Calls get 10 s, so that a slow
// answer is measured rather than cut.
func (s *bulkServer) checkOnline(t *testing.T, rounds int) {
	t.Helper()
	for round := range rounds {
		for _, p := range s.onlineProbes() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			start := time.Now()
			err := p.call(ctx, round)
			took := time.Since(start)
			cancel()
			t.Logf("round %d: %s answered %v in %s", round, p.name, status.Code(err), took.Round(time.Microsecond))
			if err != nil || took >= 2*time.Second {
				t.Errorf("round %d: %s answered %v after %s; want an answer within 2s", round, p.name, err, took.Round(time.Millisecond))
			}
		}
	}
}

// TestStalledStreamsLeaveOnlineServing holds 40 StreamFeatures calls whose
// clients read nothing, the most --max-streams allows, and checks that a
// 41st is refused naming the flag while uncached reads, ingest and health
// still answer at once: on a server that checks API keys, whose checks
// read Postgres too, and on one that does not.
func TestStalledStreamsLeaveOnlineServing(t *testing.T) {
	for _, keys := range []bool{true, false} {
		t.Run(fmt.Sprintf("keys=%v", keys), func(t *testing.T) { stalledStreamsLeaveOnlineServing(t, keys) })
	}
}

func stalledStreamsLeaveOnlineServing(t *testing.T, keys bool) {
	s := startBulkServer(t, keys, "--max-streams", "40", "--stream-stall-timeout", "10m", "--bulk-conns", "4")
	s.stalledStreams(t, context.Background(), 40, &featurestorev1.StreamFeaturesRequest{ShopId: bulkShop})
	// All are admitted, and every connection they may have is taken.
	waitFor(t, "40 streams to be served", func() bool { return s.metric(t, "featurestore_streams_active") == 40 })
	waitFor(t, "the streams to hold their pool", func() bool { return s.metric(t, "featurestore_postgres_bulk_pool_acquired_connections") == 4 })

	// Health has pinged since: its answer below is about a stalled server.
	var stalledAt time.Time
	if err := s.pool.QueryRow(context.Background(), "SELECT clock_timestamp()").Scan(&stalledAt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a health ping after the streams stalled", func() bool {
		var last time.Time
		err := s.pool.QueryRow(context.Background(), `SELECT max(query_start) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'featurestore/health'`).Scan(&last)
		return err == nil && last.After(stalledAt)
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	_, err := testenv.StreamAll(ctx, s.client, &featurestorev1.StreamFeaturesRequest{ShopId: bulkShop})
	t.Logf("the 41st stream answered %v in %s", status.Code(err), time.Since(start).Round(time.Microsecond))
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "40") || !strings.Contains(st.Message(), "--max-streams") {
		t.Fatalf("the 41st stream answered %v %q, want RESOURCE_EXHAUSTED naming the limit and --max-streams", st.Code(), st.Message())
	}
	if reason := errorReason(err); reason != server.ReasonStreamsExhausted {
		t.Errorf("the refusal's ErrorInfo reason is %q, want %s", reason, server.ReasonStreamsExhausted)
	}
	s.checkOnline(t, 5)
	if got := s.metric(t, "featurestore_streams_active"); got != 40 {
		t.Errorf("%v streams served at the end, want the 40 stalled ones", got)
	}
}

// TestStalledStreamIsCancelled stalls a stream of stored rows, and one of
// computed rows, and checks that each is cancelled after the stall
// timeout: its queries stop, its connections and its place return, and
// its client, reading again, learns why.
func TestStalledStreamIsCancelled(t *testing.T) {
	s := startBulkServer(t, true, "--max-streams", "1", "--stream-stall-timeout", "3s", "--bulk-conns", "2")
	asOf := timestamppb.New(demo.DefaultConfig().End)
	for i, tc := range []struct {
		name  string
		req   *featurestorev1.StreamFeaturesRequest
		conns float64
	}{
		{"stored rows", &featurestorev1.StreamFeaturesRequest{ShopId: bulkShop}, 1},
		{"computed rows", &featurestorev1.StreamFeaturesRequest{ShopId: bulkShop, Compute: true, AsOf: asOf}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			stalled := s.stalledStreams(t, context.Background(), 1, tc.req)[0]
			waitFor(t, "the stream to hold its connections", func() bool {
				return s.metric(t, "featurestore_postgres_bulk_pool_acquired_connections") == tc.conns
			})
			waitFor(t, "the stream to be cancelled", func() bool { return s.metric(t, "featurestore_streams_stalled_total") == float64(i+1) })
			t.Logf("cancelled %s after the stream began", time.Since(start).Round(time.Millisecond))
			waitFor(t, "the stream's place and connections to return", func() bool {
				return s.metric(t, "featurestore_streams_active") == 0 && s.metric(t, "featurestore_postgres_bulk_pool_acquired_connections") == 0
			})
			if n := s.activeQueries(t); n != 0 {
				t.Errorf("%d bulk queries still run", n)
			}
			// The place is free: with --max-streams 1, a stream is served.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			msgs, err := testenv.StreamAll(ctx, s.client, tc.req)
			if err != nil || len(msgs) == 0 {
				t.Fatalf("a stream after the cancelled one: %d batches, %v", len(msgs), err)
			}
			// The stalled client, reading again, gets what was sent, then why
			// the call ended.
			var got int
			for err = nil; err == nil; got++ {
				_, err = stalled.Recv()
			}
			st := status.Convert(err)
			if st.Code() != codes.Aborted || !strings.Contains(st.Message(), "--stream-stall-timeout") || errorReason(err) != server.ReasonStreamStalled {
				t.Errorf("the stalled client read %d batches, then %v %q; want ABORTED naming --stream-stall-timeout", got-1, st.Code(), st.Message())
			}
		})
	}
}

// TestExportWaitsForAPlace runs the export command while the server
// serves its limit of streams: it is refused, retries, and completes once
// a place is free.
func TestExportWaitsForAPlace(t *testing.T) {
	s := startBulkServer(t, true, "--max-streams", "1", "--bulk-conns", "2")
	ctx, leave := context.WithCancel(context.Background())
	s.stalledStreams(t, ctx, 1, &featurestorev1.StreamFeaturesRequest{ShopId: bulkShop})
	waitFor(t, "the stream to be served", func() bool { return s.metric(t, "featurestore_streams_active") == 1 })

	path := filepath.Join(t.TempDir(), "features.csv")
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"export", "--addr", s.addr, "--shop", bulkShop, "--out", path, "--retries", "100", "--api-key", s.secret})
	}()
	waitFor(t, "the export to be refused", func() bool { return s.metric(t, "featurestore_streams_refused_total") >= 1 })
	leave()
	if err := <-done; err != nil {
		t.Fatalf("export: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines != 5001 {
		t.Errorf("the export has %d lines, want a header and 5,000 rows", lines)
	}
}

// TestServeRejectsBadBulkSettings checks that serve refuses bulk limits
// that cannot work, naming the setting.
func TestServeRejectsBadBulkSettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-streams", "0"}, "--max-streams"},
		{[]string{"--stream-stall-timeout", "0s"}, "--stream-stall-timeout"},
		{[]string{"--stream-stall-timeout", "-1s"}, "--stream-stall-timeout"},
		{[]string{"--bulk-conns", "1"}, "--bulk-conns"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := runServe(context.Background(), append([]string{"--database-url", "postgres://u@127.0.0.1/db"}, tc.args...))
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve %v: %v, want a usage error naming %s", tc.args, err, tc.want)
			}
		})
	}
}
