package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/featurestore/featurestore/internal/compute"
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

	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on --addr %s: %w", cfg.Addr, err)
	}
	healthSrv := health.NewServer()
	svc := server.NewService(compute.NewEngine(pool, logger), logger)
	grpcSrv := server.NewGRPCServer(svc, healthSrv, logger)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		server.WatchHealth(gctx, pool, healthSrv, cfg.HealthInterval, logger)
		return nil
	})
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
