package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestHealthNeedsNoPool turns SERVING while every connection of the
// server's pool is taken: health pings on a connection of its own, so a
// busy server is not reported dead to its load balancer.
func TestHealthNeedsNoPool(t *testing.T) {
	_, url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := store.Open(ctx, url, store.WithMaxConns(2))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var held []*pgxpool.Conn
	for range pool.Config().MaxConns {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	pinger, err := store.NewPinger(url)
	if err != nil {
		t.Fatal(err)
	}
	defer pinger.Close(ctx)
	h := health.NewServer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A ping gets the interval (at most 2 s) to answer: a second holds
		// on a busy machine.
		server.WatchHealth(ctx, pinger, h, time.Second, testenv.Logger())
	}()
	defer func() { cancel(); <-done }()
	for {
		// NOT_FOUND until the watcher first sets the service's status.
		res, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: "featurestore.v1.FeatureStoreService"})
		if err != nil && status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		if res.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("health did not turn SERVING while the pool was busy")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
