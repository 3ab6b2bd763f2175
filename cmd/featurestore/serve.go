package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/metrics"
	"github.com/featurestore/featurestore/internal/refresh"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
)

func runServe(ctx context.Context, args []string) error {
	var cfg config
	fs := newFlagSet("serve", "[flags]")
	cfg.serveFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger := cfg.logger()

	pool, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.Migrate {
		version, err := store.Migrate(ctx, pool, logger)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		logger.Info("database schema is current", "version", version)
	}

	if n := pool.Config().MaxConns; n < 4 {
		return fmt.Errorf("%w: --database-url sets pool_max_conns=%d; serving needs at least 4 connections", errUsage, n)
	}
	m := metrics.New()
	if err := m.RegisterPool(pool); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	engine := compute.NewEngine(pool, logger)
	engine.Workers = cfg.ComputeWorkers
	var redisCache *cache.Cache
	if cc, ok := cfg.cacheConfig(); ok {
		if redisCache, err = cache.New(ctx, cc, logger, m.Registry); err != nil {
			return err
		}
		defer redisCache.Close()
		engine.Sink = redisCache
	} else {
		logger.Info("no --redis-url: serving reads from postgres without a cache")
	}

	sec, err := cfg.Security.build(pool, logger)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on --addr %s: %w", cfg.Addr, err)
	}
	healthSrv := health.NewServer()
	svc := server.NewService(engine, logger).
		WithReader(cache.NewReader(pool, redisCache, logger)).
		WithExporter(store.NewExporter(pool)).
		WithIngester(ingest.NewWriter(pool))
	grpcSrv := server.NewGRPCServer(svc, healthSrv, logger, m, sec.grpcOpts...)

	g, gctx := errgroup.WithContext(ctx)
	// HTTP listeners open first: if one fails, nothing else has started.
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		// Profiles, served only when asked for since they show the
		// process's memory, share the metrics listener, which binds to
		// loopback by default.
		if cfg.Security.PProf {
			registerPprof(mux)
		}
		if err := serveHTTP(gctx, g, "metrics", cfg.MetricsAddr, mux, nil, cfg.ShutdownGrace, logger); err != nil {
			return err
		}
	}
	if err := startHTTP(gctx, g, &cfg, pool, sec, m, logger); err != nil {
		return err
	}
	if sec.verifier != nil {
		g.Go(func() error {
			sec.verifier.Run(gctx)
			return nil
		})
	}
	g.Go(func() error {
		server.WatchHealth(gctx, pool, healthSrv, cfg.HealthInterval, logger)
		return nil
	})
	if cfg.RefreshInterval > 0 {
		g.Go(func() error {
			refresh.New(pool, engine, logger, cfg.RefreshInterval, cfg.FullRefreshInterval).Run(gctx)
			return nil
		})
	}
	g.Go(func() error {
		logger.Info("serving gRPC", "addr", lis.Addr().String())
		if err := grpcSrv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
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

// serveHTTP listens on addr and serves handler in g until ctx ends, then
// shuts the server down within grace; over TLS when tlsCfg is not nil. It
// fails at once when addr cannot be listened on, so a bad address stops
// the start rather than a later call.
func serveHTTP(ctx context.Context, g *errgroup.Group, name, addr string, handler http.Handler, tlsCfg *tls.Config, grace time.Duration, logger *slog.Logger) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for %s on %s: %w", name, addr, err)
	}
	if tlsCfg != nil {
		lis = tls.NewListener(lis, tlsCfg)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		logger.Info("serving HTTP", "name", name, "addr", lis.Addr().String(), "tls", tlsCfg != nil)
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
	return nil
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
