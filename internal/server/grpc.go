package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
)

// Panics counts handler panics that the recovery interceptor turned into
// INTERNAL errors.
var Panics atomic.Int64

// slogLogger adapts slog to the middleware's logging interface.
func slogLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// NewGRPCServer returns a gRPC server serving svc, grpc.health.v1 (backed by
// healthSrv) and reflection, behind the interceptor chain: request logging
// outermost, then panic recovery closest to the handler so a panic is
// logged as the INTERNAL error it becomes.
func NewGRPCServer(svc featurestorev1.FeatureStoreServiceServer, healthSrv *health.Server, logger *slog.Logger, opts ...grpc.ServerOption) *grpc.Server {
	recoveryOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		Panics.Add(1)
		logger.ErrorContext(ctx, "handler panic", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(func(c codes.Code) logging.Level {
			switch c {
			case codes.OK, codes.NotFound, codes.Canceled, codes.InvalidArgument, codes.Aborted, codes.AlreadyExists:
				return logging.LevelInfo
			case codes.Internal, codes.Unknown, codes.DataLoss:
				return logging.LevelError
			}
			return logging.LevelWarn
		}),
	}
	opts = append(opts,
		grpc.ChainUnaryInterceptor(
			logging.UnaryServerInterceptor(slogLogger(logger), logOpts...),
			recovery.UnaryServerInterceptor(recoveryOpt),
		),
		grpc.ChainStreamInterceptor(
			logging.StreamServerInterceptor(slogLogger(logger), logOpts...),
			recovery.StreamServerInterceptor(recoveryOpt),
		),
	)
	srv := grpc.NewServer(opts...)
	featurestorev1.RegisterFeatureStoreServiceServer(srv, svc)
	healthpb.RegisterHealthServer(srv, healthSrv)
	reflection.Register(srv)
	return srv
}
