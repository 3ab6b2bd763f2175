package server

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/metrics"
)

// maxRecvMsgSize bounds a request. The largest valid one, 10,000
// interactions whose ids and values all have their maximal length in
// four-byte characters, is about 51 MB.
const maxRecvMsgSize = 64 << 20

// slogLogger adapts slog to the middleware's logging interface.
func slogLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// NewGRPCServer returns a gRPC server serving svc, grpc.health.v1 (backed by
// healthSrv) and reflection, behind the interceptor chain: metrics
// outermost (when m is not nil), then request logging, then panic recovery
// closest to the handler, so a panic is counted and logged as the INTERNAL
// error it becomes.
func NewGRPCServer(svc featurestorev1.FeatureStoreServiceServer, healthSrv *health.Server, logger *slog.Logger, m *metrics.Metrics, opts ...grpc.ServerOption) *grpc.Server {
	recoveryOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		if m != nil {
			m.Panics.Inc()
		}
		logger.ErrorContext(ctx, "handler panic", "panic", p, "stack", string(debug.Stack()))
		return internalError()
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
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if m != nil {
		unary = append(unary, m.GRPC.UnaryServerInterceptor())
		stream = append(stream, m.GRPC.StreamServerInterceptor())
	}
	unary = append(unary, logging.UnaryServerInterceptor(slogLogger(logger), logOpts...), recovery.UnaryServerInterceptor(recoveryOpt))
	stream = append(stream, logging.StreamServerInterceptor(slogLogger(logger), logOpts...), recovery.StreamServerInterceptor(recoveryOpt))
	opts = append(opts, grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...),
		// An IngestInteractions call of 10,000 rows with long ids can pass
		// gRPC's default 4 MiB; keep a bound, above the largest valid call.
		grpc.MaxRecvMsgSize(maxRecvMsgSize))
	srv := grpc.NewServer(opts...)
	featurestorev1.RegisterFeatureStoreServiceServer(srv, svc)
	healthpb.RegisterHealthServer(srv, healthSrv)
	reflection.Register(srv)
	if m != nil {
		m.GRPC.InitializeMetrics(srv)
	}
	return srv
}
