package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// errorInfo returns the google.rpc.ErrorInfo of err's status, or nil.
func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// fieldViolations returns the fields of err's google.rpc.BadRequest.
func fieldViolations(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

// serve serves svc on a free port and returns a client of it.
func serve(t *testing.T, svc *server.Service) featurestorev1.FeatureStoreServiceClient {
	t.Helper()
	addr := testenv.ServeGRPC(t, server.NewGRPCServer(svc, health.NewServer(), testenv.Logger(), nil), "127.0.0.1:0")
	return featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, addr))
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (r failingReader) ReadPairs(context.Context, string, []store.Lookup) ([][]store.Record, error) {
	return nil, r.err
}

// panickingReader panics at every read.
type panickingReader struct{}

func (panickingReader) ReadPairs(context.Context, string, []store.Lookup) ([][]store.Record, error) {
	panic("a defect")
}

// TestErrorReasons makes every error a client can get, the way a client
// gets it, and checks its code, its ErrorInfo reason and domain, and, for
// INVALID_ARGUMENT, the field it names.
func TestErrorReasons(t *testing.T) {
	t.Parallel()
	pool, url := testenv.GoldenPostgres(t)
	ctx := context.Background()
	st := store.New(pool)
	full := startServer(t, pool, nil)
	streams := serve(t, newService(t, server.Config{Exporter: st}))
	bare := serve(t, newService(t, server.Config{}))

	// A database nobody answers at: a port nothing listens on.
	downCfg, err := pgxpool.ParseConfig("postgres://postgres@" + freeAddr(t) + "/featurestore?connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	downPool, err := pgxpool.NewWithConfig(ctx, downCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer downPool.Close()
	down := serve(t, newService(t, server.Config{Reader: store.New(downPool)}))

	// A pool too small for any compute run.
	small, err := store.Open(ctx, url+"&pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	smallEngine := newEngine(t, store.New(small), compute.DefaultConfig())
	tooSmall := serve(t, newService(t, server.Config{Computer: smallEngine}))

	// Servers of one stream at once whose exporter makes rows for as long
	// as its call lasts: one keeps a stalled stream for a minute, the
	// other cancels it after 100 ms. Their clients' fixed 64 KiB windows
	// (the default grows with the measured bandwidth) fill after a few
	// hundred rows.
	smallWindows := []grpc.DialOption{grpc.WithInitialWindowSize(1 << 16), grpc.WithInitialConnWindowSize(1 << 16)}
	held, stalling := newEndlessExporter(), newEndlessExporter()
	oneStream := featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, testenv.ServeGRPC(t, server.NewGRPCServer(
		newService(t, server.Config{Exporter: held, Streams: server.StreamLimits{MaxStreams: 1}}),
		health.NewServer(), testenv.Logger(), nil), "127.0.0.1:0"), smallWindows...))
	stallingStreams := featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, testenv.ServeGRPC(t, server.NewGRPCServer(
		newService(t, server.Config{Exporter: stalling, Streams: server.StreamLimits{StallTimeout: 100 * time.Millisecond}}),
		health.NewServer(), testenv.Logger(), nil), "127.0.0.1:0"), smallWindows...))
	rawConn := testenv.DialGRPC(t, testenv.ServeGRPC(t, server.NewGRPCServer(newService(t, server.Config{}), health.NewServer(), testenv.Logger(), nil), "127.0.0.1:0"))

	broken := serve(t, newService(t, server.Config{Reader: failingReader{errors.New("a defect")}}))
	panicking := serve(t, newService(t, server.Config{Reader: panickingReader{}}))

	// The shop's lock, held as a run on another server would hold it.
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('featurestore/compute/' || $1, 0))`, "shop-1"); err != nil {
		t.Fatal(err)
	}

	if _, err := st.SeedFeatureRows(ctx, "stored", 3, 2); err != nil {
		t.Fatal(err)
	}
	first, err := testenv.StreamAll(ctx, streams, &featurestorev1.StreamFeaturesRequest{ShopId: "stored", BatchSize: 1})
	if err != nil || len(first) == 0 {
		t.Fatalf("stream for a token: %d messages, %v", len(first), err)
	}
	token := first[0].GetResumeToken()

	get := func(client featurestorev1.FeatureStoreServiceClient, req *featurestorev1.GetFeaturesRequest) func() error {
		return func() error { _, err := client.GetFeatures(ctx, req); return err }
	}
	stream := func(client featurestorev1.FeatureStoreServiceClient, req *featurestorev1.StreamFeaturesRequest) func() error {
		return func() error { _, err := testenv.StreamAll(ctx, client, req); return err }
	}
	run := func(client featurestorev1.FeatureStoreServiceClient, shop string) func() error {
		return func() error {
			_, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: shop})
			return err
		}
	}
	valid := &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: cust1000, ProductIds: []string{product(9000)}}

	// A run of shop-0 at june, so that a run at an earlier instant goes
	// back in time.
	june := timestamppb.New(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if _, err := computeAll(ctx, t, full, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0", AsOf: june}); err != nil {
		t.Fatal(err)
	}
	pastRun := func() error {
		_, err := computeAll(ctx, t, full, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0",
			AsOf: timestamppb.New(time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC))})
		return err
	}

	for _, tc := range []struct {
		name   string
		call   func() error
		code   codes.Code
		reason string
		field  string // the BadRequest field, for INVALID_ARGUMENT
		// metadata is the ErrorInfo's metadata, as key=value, when it has
		// one.
		metadata string
	}{
		{"a bad field", get(full, &featurestorev1.GetFeaturesRequest{CustomerId: "c", ProductIds: []string{"p"}}),
			codes.InvalidArgument, server.ReasonBadRequest, "shop_id", ""},
		{"a bad batch", func() error {
			_, err := full.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{})
			return err
		}, codes.InvalidArgument, server.ReasonBadRequest, "interactions", ""},
		{"a garbage token", stream(streams, &featurestorev1.StreamFeaturesRequest{ShopId: "stored", ResumeToken: "garbage"}),
			codes.InvalidArgument, server.ReasonResumeTokenInvalid, "resume_token", ""},
		{"a token of another shop", stream(streams, &featurestorev1.StreamFeaturesRequest{ShopId: "other", ResumeToken: token}),
			codes.InvalidArgument, server.ReasonResumeTokenInvalid, "resume_token", ""},
		{"bytes that are not a request", func() error {
			return rawConn.Invoke(ctx, featurestorev1.FeatureStoreService_GetFeatures_FullMethodName, []byte{0x0a, 0x05}, &featurestorev1.GetFeaturesResponse{}, grpc.ForceCodecV2(rawCodec{}))
		}, codes.InvalidArgument, server.ReasonBadRequest, "", ""},
		{"a string that is not UTF-8", func() error {
			return rawConn.Invoke(ctx, featurestorev1.FeatureStoreService_GetFeatures_FullMethodName, field(nil, 1, []byte("\xff")), &featurestorev1.GetFeaturesResponse{}, grpc.ForceCodecV2(rawCodec{}))
		}, codes.InvalidArgument, server.ReasonBadRequest, "shop_id", ""},
		{"a stream beyond the limit", func() error {
			first, cancel := context.WithCancel(ctx)
			defer cancel()
			if _, err := oneStream.StreamFeatures(first, &featurestorev1.StreamFeaturesRequest{ShopId: "endless"}); err != nil {
				return err
			}
			<-held.started
			_, err := testenv.StreamAll(ctx, oneStream, &featurestorev1.StreamFeaturesRequest{ShopId: "endless"})
			return err
		}, codes.ResourceExhausted, server.ReasonStreamsExhausted, "", "max_streams=1"},
		{"a stream whose client stopped reading", func() error {
			call, cancel := context.WithCancel(ctx)
			defer cancel()
			s, err := stallingStreams.StreamFeatures(call, &featurestorev1.StreamFeaturesRequest{ShopId: "endless"})
			if err != nil {
				return err
			}
			// The server gave up on the call: its read ended. Reading again,
			// the client gets what was sent, then why.
			<-stalling.ended
			for {
				if _, err := s.Recv(); err != nil {
					return err
				}
			}
		}, codes.Aborted, server.ReasonStreamStalled, "", "stall_timeout=100ms"},
		{"a run while another holds the shop", run(full, "shop-1"), codes.Aborted, server.ReasonShopLocked, "", ""},
		{"a run on a pool of 3", run(tooSmall, "shop-0"), codes.FailedPrecondition, server.ReasonPoolTooSmall, "", ""},
		{"a run before the shop's last run", pastRun, codes.FailedPrecondition, server.ReasonPastAsOf, "", ""},
		{"a run of a shop without inputs", run(full, "shop-typo"), codes.FailedPrecondition, server.ReasonNoInputs, "", ""},
		{"stored rows of an unknown shop", stream(streams, &featurestorev1.StreamFeaturesRequest{ShopId: "shop-typo"}),
			codes.NotFound, server.ReasonShopUnknown, "", ""},
		{"computed rows of an unknown shop", stream(full, &featurestorev1.StreamFeaturesRequest{ShopId: "shop-typo", Compute: true, AsOf: june}),
			codes.NotFound, server.ReasonShopUnknown, "", ""},
		{"GetFeatures without a reader", get(bare, valid), codes.Unimplemented, server.ReasonNotConfigured, "", ""},
		{"ComputeFeatures without an engine", run(bare, "shop-0"), codes.Unimplemented, server.ReasonNotConfigured, "", ""},
		{"IngestInteractions without an ingester", func() error {
			_, err := bare.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{})
			return err
		}, codes.Unimplemented, server.ReasonNotConfigured, "", ""},
		{"StreamFeatures without an exporter", stream(bare, &featurestorev1.StreamFeaturesRequest{ShopId: "stored"}),
			codes.Unimplemented, server.ReasonNotConfigured, "", ""},
		{"StreamFeatures computed without an engine", stream(streams, &featurestorev1.StreamFeaturesRequest{ShopId: "stored", Compute: true,
			AsOf: first[0].GetRecords()[0].GetAsOf()}), codes.Unimplemented, server.ReasonNotConfigured, "", ""},
		{"a database that does not answer", get(down, valid), codes.Unavailable, server.ReasonDatabaseUnavailable, "", ""},
		{"a defect", get(broken, valid), codes.Internal, server.ReasonInternal, "", ""},
		{"a panic", get(panicking, valid), codes.Internal, server.ReasonInternal, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			info := errorInfo(err)
			if info.GetReason() != tc.reason || info.GetDomain() != server.ErrorDomain {
				t.Errorf("ErrorInfo %v, want reason %s in domain %s", info, tc.reason, server.ErrorDomain)
			}
			if got := fieldViolations(err); tc.field != "" && (len(got) != 1 || got[0] != tc.field) {
				t.Errorf("field violations %v, want [%s]", got, tc.field)
			}
			var meta []string
			for k, v := range info.GetMetadata() {
				meta = append(meta, k+"="+v)
			}
			if got := strings.Join(meta, ","); got != tc.metadata {
				t.Errorf("ErrorInfo metadata %q, want %q", got, tc.metadata)
			}
		})
	}
}

// endlessExporter makes rows for as long as its caller takes them. It
// closes started when a call begins, and ended when the call stops taking
// rows.
type endlessExporter struct {
	started, ended chan struct{}
}

func newEndlessExporter() *endlessExporter {
	return &endlessExporter{started: make(chan struct{}), ended: make(chan struct{})}
}

func (e *endlessExporter) ExportRows(_ context.Context, _ store.ExportRequest, fn func(*store.StoredRow) error) error {
	close(e.started)
	defer close(e.ended)
	asOf := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; ; i++ {
		row := store.StoredRow{CustomerID: fmt.Sprintf("gid://shopify/Customer/%09d", i), ProductID: "gid://shopify/Product/1", AsOf: asOf, ComputedAt: asOf}
		if err := fn(&row); err != nil {
			return err
		}
	}
}

// stuckComputer reports progress once, then waits for its run to be
// cancelled; it reports whether it was.
type stuckComputer struct{ cancelled chan bool }

func (c stuckComputer) Run(ctx context.Context, req compute.Request, progress func(compute.Progress)) (compute.Summary, error) {
	progress(compute.Progress{PairsComputed: 1})
	select {
	case <-ctx.Done():
		c.cancelled <- true
		return compute.Summary{}, ctx.Err()
	case <-time.After(time.Minute): // a budget for a busy machine: a cancelled run ends long before
		c.cancelled <- false
		return compute.Summary{ShopID: req.ShopID}, nil
	}
}

// brokenStream is a ComputeFeatures stream whose client is gone: every
// send fails.
type brokenStream struct {
	grpc.ServerStream
	sends int
}

func (s *brokenStream) Context() context.Context { return context.Background() }
func (s *brokenStream) Send(*featurestorev1.ComputeFeaturesResponse) error {
	s.sends++
	return status.Error(codes.Unavailable, "the client is gone")
}

// TestComputeFeaturesEndsWhenProgressCannotBeSent checks that a run whose
// progress cannot be sent is cancelled at once, and that ComputeFeatures
// returns the send's error instead of running on for nobody.
func TestComputeFeaturesEndsWhenProgressCannotBeSent(t *testing.T) {
	t.Parallel()
	c := stuckComputer{cancelled: make(chan bool, 1)}
	svc := newService(t, server.Config{Computer: c})
	s := &brokenStream{}
	err := svc.ComputeFeatures(&featurestorev1.ComputeFeaturesRequest{ShopId: "shop"}, s)
	if !<-c.cancelled {
		t.Fatal("the run went on after its progress could not be sent")
	}
	if status.Code(err) != codes.Unavailable || s.sends != 1 {
		t.Errorf("ComputeFeatures = %v after %d sends, want the send's UNAVAILABLE after 1", err, s.sends)
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return "127.0.0.1:" + strconv.Itoa(lis.Addr().(*net.TCPAddr).Port)
}
