package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/metrics"
	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/refresh"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
)

func runServe(ctx context.Context, args []string) error {
	var cfg config
	fs := newFlagSet("serve", "[flags]")
	cfg.serveFlags(fs)
	if err := cfg.parse(fs, args); err != nil {
		return err
	}
	logger := cfg.logger()
	setServingGC(logger)
	// The tracer provider flushes last, once everything that makes spans
	// has stopped.
	tp, propagator, flushTraces, err := startTracing(ctx, cfg.ShutdownGrace, logger)
	if err != nil {
		return err
	}
	defer flushTraces()
	cfg.tracer = tp

	st, closeDB, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	if cfg.Migrate {
		version, err := st.Migrate(ctx, logger)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		logger.Info("database schema is current", "version", version)
	}

	if n := st.MaxConns(); n < 4 {
		return fmt.Errorf("%w: --database-url sets pool_max_conns=%d; serving needs at least 4 connections", errUsage, n)
	}
	// Bulk reads have a pool, and a store, of their own, so that however
	// many clients read slowly, online reads, ingest and compute runs keep
	// theirs.
	bulkStore, closeBulk, err := cfg.Bulk.openStore(ctx, cfg.DatabaseURL, cfg.poolOptions()...)
	if err != nil {
		return err
	}
	defer closeBulk()
	// Health pings on a connection of its own, never queued behind a pool.
	pinger, err := store.NewPinger(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pinger.Close(context.WithoutCancel(ctx))
	m := metrics.New()
	if err := m.RegisterPool(st); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := m.RegisterBulkPool(bulkStore); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	engineCfg := cfg.computeConfig()
	// Streams compute their rows for compute = true with an engine of the
	// bulk store: it only reads, and writes no Sink.
	bulkEngine, err := compute.NewEngine(bulkStore, cfg.computeConfig(), logger)
	if err != nil {
		return err
	}
	// The reads that may lag go to the read replica, when there is one and
	// it is close enough behind the primary.
	reads, closeReplica, err := cfg.Replica.open(ctx, st, bulkStore, bulkEngine, &cfg.Bulk, cfg.computeConfig(), cfg.poolOptions(), m, logger)
	if err != nil {
		return err
	}
	defer closeReplica()
	// Reads go to Postgres, or through the cache, which wraps the same
	// reader, when there is one.
	var reader server.PairReader = reads.online
	if cc, ok := cfg.cacheConfig(); ok {
		cc.Registerer = m.Registry
		redisCache, err := cache.New(ctx, reads.online, cc, logger)
		if err != nil {
			return err
		}
		defer redisCache.Close()
		engineCfg.Sink, reader = redisCache, redisCache
	} else {
		logger.Info("no --redis-url: serving reads from postgres without a cache")
	}
	engine, err := compute.NewEngine(st, engineCfg, logger)
	if err != nil {
		return err
	}
	svc, err := server.NewService(server.Config{
		Computer: engine, Rows: reads.rows, Reader: reader, Exporter: reads.exports, Ingester: ingest.NewWriter(st),
		Streams: cfg.Bulk.Limits, Registerer: m.Registry,
	}, logger)
	if err != nil {
		return err
	}
	var scheduler *refresh.Scheduler
	if rc, ok := cfg.refreshConfig(); ok {
		if scheduler, err = refresh.New(st, engine, rc, logger); err != nil {
			return err
		}
	}
	sec, err := cfg.Security.build(st, logger)
	if err != nil {
		return err
	}
	var pixelHandler http.Handler
	if cfg.HTTP.Addr != "" {
		if pixelHandler, err = cfg.HTTP.handler(st, sec, m, logger); err != nil {
			return err
		}
	}
	healthSrv := health.NewServer()
	grpcOpts := sec.grpcOpts
	if tp != nil {
		grpcOpts = append(grpcOpts, server.WithTracing(tp, propagator))
	}
	grpcSrv := server.NewGRPCServer(svc, healthSrv, logger, m, grpcOpts...)

	// The listeners open in this order, before anything is served: metrics,
	// the HTTP API, then gRPC. When one cannot be opened, those opened
	// before it are closed and serve returns, having served nothing.
	var ls listeners
	defer ls.closeUnserved()
	var metricsLis, pixelLis net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLis, err = ls.listen("--metrics-addr", cfg.MetricsAddr); err != nil {
			return err
		}
	}
	if pixelHandler != nil {
		if pixelLis, err = ls.listen("--http-addr", cfg.HTTP.Addr); err != nil {
			return err
		}
		// The pixel endpoint is served over TLS with gRPC's certificate;
		// gRPC's own TLS comes with its server options.
		if sec.httpTLS != nil {
			pixelLis = tls.NewListener(pixelLis, sec.httpTLS)
		}
	}
	grpcLis, err := ls.listen("--addr", cfg.Addr)
	if err != nil {
		return err
	}
	// From here on each server owns its listener and closes it when it
	// stops.
	ls.served = true

	g, gctx := errgroup.WithContext(ctx)
	if metricsLis != nil {
		serveHTTP(gctx, g, "metrics", metricsLis, metricsHandler(m, cfg.Security.PProf), cfg.ShutdownGrace, logger)
	}
	if pixelLis != nil {
		serveHTTP(gctx, g, "pixel", pixelLis, pixelHandler, cfg.ShutdownGrace, logger)
		g.Go(func() error {
			pixel.KeepSessionsPruned(gctx, st, pruneInterval, logger)
			return nil
		})
	}
	if sec.verifier != nil {
		g.Go(func() error {
			sec.verifier.Run(gctx)
			return nil
		})
	}
	g.Go(func() error {
		server.WatchHealth(gctx, pinger, healthSrv, cfg.HealthInterval, logger)
		return nil
	})
	if scheduler != nil {
		g.Go(func() error {
			scheduler.Run(gctx)
			return nil
		})
	}
	if reads.monitor != nil {
		g.Go(func() error {
			reads.monitor.Run(gctx)
			return nil
		})
	}
	g.Go(func() error {
		logger.Info("serving gRPC", "addr", grpcLis.Addr().String(), "tls", cfg.Security.TLSCert != "")
		if err := grpcSrv.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("shutting down", "grace", cfg.ShutdownGrace)
		healthSrv.Shutdown()
		stopGracefully(grpcSrv, cfg.ShutdownGrace)
		return nil
	})
	return g.Wait()
}

// listeners are the listeners serve opened. Until serving takes them over
// (served), closeUnserved closes them, so that a start that fails half-way
// leaves no port bound.
type listeners struct {
	opened []net.Listener
	served bool
}

// listen opens a TCP listener on addr, which flag set.
func (l *listeners) listen(flag, addr string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s: %w", flag, addr, err)
	}
	l.opened = append(l.opened, lis)
	return lis, nil
}

// closeUnserved closes every listener opened, unless serving took them over.
func (l *listeners) closeUnserved() {
	if l.served {
		return
	}
	for _, lis := range l.opened {
		_ = lis.Close()
	}
}

// metricsHandler serves Prometheus /metrics and, with profiles (--pprof),
// the runtime profiles beside it (registerPprof). Profiles are served only
// when asked for, since they show the process's memory; the metrics
// listener binds to loopback by default.
func metricsHandler(m *metrics.Metrics, profiles bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if profiles {
		registerPprof(mux)
	}
	return mux
}

// serveHTTP serves handler on lis in g until ctx ends, then shuts the
// server down within grace. The server closes lis.
func serveHTTP(ctx context.Context, g *errgroup.Group, name string, lis net.Listener, handler http.Handler, grace time.Duration, logger *slog.Logger) {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		logger.Info("serving HTTP", "name", name, "addr", lis.Addr().String())
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve %s: %w", name, err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
}

// stopGracefully lets in-flight calls finish for up to grace, then cancels
// the rest.
func stopGracefully(srv *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		srv.Stop()
		<-done
	}
}

// servingGCPercent is the garbage collector's target that serve sets when
// GOGC does not set one. A server's live heap is small (tens of MB), so at
// Go's default of 100 the collector runs every few hundred online reads;
// at 400 it runs a quarter as often, which in the benchmark cut the p99 of
// a warm GetFeatures at concurrency 1 by a third, for a heap of a few
// times the live one. GOGC (and GOMEMLIMIT) still decide when given.
const servingGCPercent = 400

func setServingGC(logger *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(servingGCPercent)
	logger.Debug("garbage collector target set for serving; GOGC overrides it", "gc_percent", servingGCPercent)
}
