package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// startServer serves a Service on an in-memory listener and returns a
// client of it. tune, if not nil, adjusts the compute engine's settings;
// when it sets a *cache.Cache as the engine's Sink, reads go through that
// cache too.
func startServer(t testing.TB, pool *pgxpool.Pool, tune func(*compute.Config)) featurestorev1.FeatureStoreServiceClient {
	t.Helper()
	st := store.New(pool)
	cfg := compute.DefaultConfig()
	if tune != nil {
		tune(&cfg)
	}
	engine := newEngine(t, st, cfg)
	var reader server.PairReader = st
	if c, ok := cfg.Sink.(*cache.Cache); ok {
		reader = c
	}
	svc := newService(t, server.Config{Computer: engine, Rows: engine, Reader: reader, Ingester: ingest.NewWriter(st)})
	return dialBufconn(t, server.NewGRPCServer(svc, health.NewServer(), testenv.Logger(), nil))
}

// dialBufconn serves srv on an in-memory listener until the test ends and
// returns a client of it.
func dialBufconn(t testing.TB, srv *grpc.Server) featurestorev1.FeatureStoreServiceClient {
	t.Helper()
	return featurestorev1.NewFeatureStoreServiceClient(testenv.ServeBufconn(t, srv))
}

// newEngine returns a compute engine on st with cfg.
func newEngine(t testing.TB, st *store.Store, cfg compute.Config) *compute.Engine {
	t.Helper()
	e, err := compute.NewEngine(st, cfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// newService returns a service configured with cfg.
func newService(t testing.TB, cfg server.Config) *server.Service {
	t.Helper()
	svc, err := server.NewService(cfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// computeAll runs ComputeFeatures to its end and returns the summary and the
// number of progress messages before it.
func computeAll(ctx context.Context, t testing.TB, client featurestorev1.FeatureStoreServiceClient, req *featurestorev1.ComputeFeaturesRequest) (*featurestorev1.ComputeSummary, error) {
	t.Helper()
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

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestStreamLimitsMetrics checks that a Config's stream limits, their
// defaults for unset ones, are what the Registerer exports.
func TestStreamLimitsMetrics(t *testing.T) {
	for _, tc := range []struct {
		limits server.StreamLimits
		want   float64
	}{{server.StreamLimits{}, server.DefaultMaxStreams}, {server.StreamLimits{MaxStreams: 3}, 3}} {
		reg := prometheus.NewRegistry()
		newService(t, server.Config{Streams: tc.limits, Registerer: reg})
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := -1.0
		for _, f := range families {
			if f.GetName() == "featurestore_streams_max" {
				got = f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if got != tc.want {
			t.Errorf("%+v: featurestore_streams_max is %v, want %v", tc.limits, got, tc.want)
		}
	}
}

// TestConfigValidate checks that a backend set to a nil pointer, which
// would fail at its first call, and a stream limit that cannot work are
// refused by name, and that unset backends are fine (their RPCs answer
// NOT_CONFIGURED), as are unset stream limits (they take the defaults).
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	var nilCache *cache.Cache
	var nilStore *store.Store
	for _, tc := range []struct {
		name  string
		cfg   server.Config
		field string // "" for a valid configuration
	}{
		{"nothing configured", server.Config{}, ""},
		{"a store for reads and exports", server.Config{Reader: store.New(nil), Exporter: store.New(nil)}, ""},
		{"a nil cache as the reader", server.Config{Reader: nilCache}, "Reader"},
		{"a nil store as the exporter", server.Config{Exporter: nilStore}, "Exporter"},
		{"a nil engine", server.Config{Computer: (*compute.Engine)(nil)}, "Computer"},
		{"default stream limits", server.Config{Streams: server.StreamLimits{}}, ""},
		{"a negative stream limit", server.Config{Streams: server.StreamLimits{MaxStreams: -1}}, "Streams.MaxStreams"},
		{"a negative stall timeout", server.Config{Streams: server.StreamLimits{StallTimeout: -time.Second}}, "Streams.StallTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.NewService(tc.cfg, testenv.Logger())
			if tc.field == "" && err != nil {
				t.Fatalf("NewService = %v, want a service", err)
			}
			if tc.field != "" && (err == nil || !strings.Contains(err.Error(), "Config."+tc.field+" ")) {
				t.Fatalf("NewService = %v, want an error naming Config.%s", err, tc.field)
			}
		})
	}
}
