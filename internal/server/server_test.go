package server_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/test/bufconn"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/testenv"
)

// startServer serves a Service on an in-memory listener and returns a
// client of it. configure, if not nil, adjusts the compute engine; when it
// sets a *cache.Cache as the engine's Sink, reads go through that cache too.
func startServer(t testing.TB, pool *pgxpool.Pool, configure func(*compute.Engine)) featurestorev1.FeatureStoreServiceClient {
	t.Helper()
	engine := compute.NewEngine(pool, testenv.Logger())
	if configure != nil {
		configure(engine)
	}
	redisCache, _ := engine.Sink.(*cache.Cache)
	svc := server.NewService(engine, testenv.Logger()).
		WithIngester(ingest.NewWriter(pool)).
		WithReader(cache.NewReader(pool, redisCache, testenv.Logger()))
	srv := server.NewGRPCServer(svc, health.NewServer(), testenv.Logger(), nil)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return featurestorev1.NewFeatureStoreServiceClient(conn)
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
