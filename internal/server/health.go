package server

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/store"
)

// Pinger reports whether the database answers. *store.Pinger implements
// it on a connection of its own, which is what serve gives health: a ping
// through a pool (*store.Store implements it too) waits behind every call
// queued for a connection, and reports a busy server as a dead one.
type Pinger interface {
	// Ping must return an error unless the database answers before ctx
	// ends.
	Ping(ctx context.Context) error
}

var (
	_ Pinger = (*store.Pinger)(nil)
	_ Pinger = (*store.Store)(nil)
)

// serviceName is the service's name as health checks ask for it.
var serviceName = featurestorev1.FeatureStoreService_ServiceDesc.ServiceName

// WatchHealth sets the server's health (overall and for the service) to
// SERVING while db answers a ping and NOT_SERVING otherwise, checking every
// interval until ctx ends. It starts NOT_SERVING, so a server is not sent
// traffic before the database has answered once.
func WatchHealth(ctx context.Context, db Pinger, h *health.Server, interval time.Duration, logger *slog.Logger) {
	set := func(s healthpb.HealthCheckResponse_ServingStatus) {
		h.SetServingStatus("", s)
		h.SetServingStatus(serviceName, s)
	}
	set(healthpb.HealthCheckResponse_NOT_SERVING)
	last := healthpb.HealthCheckResponse_NOT_SERVING
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		pingCtx, cancel := context.WithTimeout(ctx, min(interval, 2*time.Second))
		err := db.Ping(pingCtx)
		cancel()
		next := healthpb.HealthCheckResponse_SERVING
		if err != nil {
			next = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if next != last && ctx.Err() == nil {
			logger.Info("health changed", "status", next.String(), "error", err)
			set(next)
			last = next
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
