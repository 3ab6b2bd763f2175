package server

import (
	"context"
	"log/slog"
	"path"
	"time"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SlowCall is the duration from which a successful call is logged at INFO;
// faster successful calls are logged at DEBUG, so that a busy server's
// online reads cost no log line.
const SlowCall = 250 * time.Millisecond

// callLevel is the level of a finished call's log line: errors by what
// they say about the server, successes at DEBUG unless slow.
func callLevel(code codes.Code, took time.Duration) slog.Level {
	switch code {
	case codes.OK:
		if took >= SlowCall {
			return slog.LevelInfo
		}
		return slog.LevelDebug
	case codes.NotFound, codes.Canceled, codes.InvalidArgument, codes.Aborted, codes.AlreadyExists:
		return slog.LevelInfo
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return slog.LevelError
	}
	return slog.LevelWarn
}

// logCall writes the line of one finished call: "finished call" with the
// method, the code, the duration in milliseconds, for an error its
// message, then the fields that the call's interceptors and handler added
// with logging.AddFields (the API key's name). Nothing is built when the
// level is off.
func logCall(ctx context.Context, logger *slog.Logger, fullMethod string, start time.Time, err error) {
	took := time.Since(start)
	code := status.Code(err)
	level := callLevel(code, took)
	if !logger.Enabled(ctx, level) {
		return
	}
	service, method := path.Split(fullMethod)
	attrs := []slog.Attr{
		slog.String("grpc.service", path.Clean(service)[1:]),
		slog.String("grpc.method", method),
		slog.String("grpc.code", code.String()),
		slog.Float64("grpc.time_ms", float64(took.Microseconds())/1000),
	}
	if err != nil {
		attrs = append(attrs, slog.String("grpc.error", err.Error()))
	}
	for it := logging.ExtractFields(ctx).Iterator(); it.Next(); {
		k, v := it.At()
		attrs = append(attrs, slog.Any(k, v))
	}
	logger.LogAttrs(ctx, level, "finished call", attrs...)
}

// unaryLog logs every finished unary call (logCall).
func unaryLog(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		ctx = logging.InjectFields(ctx, nil)
		resp, err := handler(ctx, req)
		logCall(ctx, logger, info.FullMethod, start, err)
		return resp, err
	}
}

// streamLog logs every finished streaming call (logCall).
func streamLog(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		wrapped := middleware.WrapServerStream(ss)
		wrapped.WrappedContext = logging.InjectFields(ss.Context(), nil)
		err := handler(srv, wrapped)
		logCall(wrapped.WrappedContext, logger, info.FullMethod, start, err)
		return err
	}
}
