package server

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/metrics"
	"github.com/featurestore/featurestore/internal/tracing"
)

// maxRecvMsgSize bounds a request. The largest valid one, 10,000
// interactions whose ids and values all have their maximal length in
// four-byte characters, is about 51 MB.
const maxRecvMsgSize = 64 << 20

// Authorizer checks the caller of every call; *auth.GRPC implements it.
// Its interceptors run inside request logging (so refused calls are
// logged, and the log line can name the caller) and outside the handler,
// which runs only for calls they let through. They return errors rather
// than statuses: an *auth.Error for a refused caller, a store error when
// a key cannot be checked; toStatus maps them, as it maps the handlers'
// errors.
type Authorizer interface {
	// UnaryInterceptors must return the interceptor that authenticates a
	// call, which runs before its request is decoded and must not read
	// the request, and the one that authorizes the decoded request.
	UnaryInterceptors() (authenticate, authorize grpc.UnaryServerInterceptor)
	// StreamInterceptors is UnaryInterceptors for streaming calls; the
	// authorizing one sees each request message decoded as it is
	// received.
	StreamInterceptors() (authenticate, authorize grpc.StreamServerInterceptor)
}

var _ Authorizer = (*auth.GRPC)(nil)

// authOption and noReflectionOption are NewGRPCServer's own options;
// grpc.EmptyServerOption lets them travel with the gRPC server options.
type authOption struct {
	grpc.EmptyServerOption
	a Authorizer
}

type noReflectionOption struct{ grpc.EmptyServerOption }

type tracingOption struct {
	grpc.EmptyServerOption
	tp   trace.TracerProvider
	prop propagation.TextMapPropagator
}

// WithAuth makes every call but health and reflection pass a's checks.
// Without it the server serves without authentication.
func WithAuth(a Authorizer) grpc.ServerOption { return authOption{a: a} }

// WithoutReflection leaves the reflection service unregistered.
func WithoutReflection() grpc.ServerOption { return noReflectionOption{} }

// WithTracing traces every call but health checks to tp (with its
// database and Redis work, when their clients trace to tp too), continuing
// the caller's trace when prop finds its context in the call's headers
// (nil: the W3C traceparent and baggage), and adds the trace id to the
// call's log line while its span records. Without it the server installs
// no tracing at all, and reads no caller's trace context.
func WithTracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) grpc.ServerOption {
	return tracingOption{tp: tp, prop: prop}
}

// NewGRPCServer returns a gRPC server serving svc, grpc.health.v1 (backed by
// healthSrv) and reflection, behind the interceptor chain: metrics
// outermost (when m is not nil), then request logging (requestlog.go), then (WithAuth)
// authentication, then the decoding of requests, then (WithAuth)
// authorization, then panic recovery closest to the handler, so a panic is
// counted and logged as the INTERNAL error it becomes.
//
// So a call is answered, in this order: UNAUTHENTICATED without a valid
// key, before any of its request is read; INVALID_ARGUMENT (BAD_REQUEST)
// when the request is not valid protobuf or has a string that is not
// UTF-8 (decode.go); PERMISSION_DENIED when the key does not cover the
// method or the decoded request's shops; then whatever the handler
// answers. Health and reflection need no key; their requests are decoded
// alike. With WithTracing, a stats handler starts each call's span before
// any interceptor runs, so the log line and everything inside see it.
func NewGRPCServer(svc featurestorev1.FeatureStoreServiceServer, healthSrv *health.Server, logger *slog.Logger, m *metrics.Metrics, opts ...grpc.ServerOption) *grpc.Server {
	var authorizer Authorizer
	var tp trace.TracerProvider
	var prop propagation.TextMapPropagator
	reflect := true
	for _, o := range opts {
		switch o := o.(type) {
		case authOption:
			authorizer = o.a
		case noReflectionOption:
			reflect = false
		case tracingOption:
			tp, prop = o.tp, o.prop
		}
	}
	recoveryOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		if m != nil {
			m.Panics.Inc()
		}
		logger.ErrorContext(ctx, "handler panic", "panic", p, "stack", string(debug.Stack()))
		return internalError()
	})
	if tp != nil {
		opts = append(opts, tracing.ServerOption(tp, prop))
	}
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if m != nil {
		unary = append(unary, m.GRPC.UnaryServerInterceptor())
		stream = append(stream, m.GRPC.StreamServerInterceptor())
	}
	unary = append(unary, unaryLog(logger))
	stream = append(stream, streamLog(logger))
	// Authentication, decoding, authorization: in the order the comment
	// above gives.
	var authorizeUnary grpc.UnaryServerInterceptor
	var authorizeStream grpc.StreamServerInterceptor
	if authorizer != nil {
		var authenticateUnary grpc.UnaryServerInterceptor
		var authenticateStream grpc.StreamServerInterceptor
		authenticateUnary, authorizeUnary = authorizer.UnaryInterceptors()
		authenticateStream, authorizeStream = authorizer.StreamInterceptors()
		unary = append(unary, unaryStatus(logger), authenticateUnary)
		stream = append(stream, streamStatus(logger), authenticateStream)
	}
	unary = append(unary, decodeUnary(logger))
	stream = append(stream, decodeStream(logger))
	if authorizer != nil {
		unary = append(unary, authorizeUnary)
		stream = append(stream, authorizeStream)
	}
	unary = append(unary, recovery.UnaryServerInterceptor(recoveryOpt))
	stream = append(stream, recovery.StreamServerInterceptor(recoveryOpt))
	opts = append(opts, grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...),
		// An IngestInteractions call of 10,000 rows with long ids can pass
		// gRPC's default 4 MiB; keep a bound, above the largest valid call.
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		// Requests that are not valid protobuf are INVALID_ARGUMENT, not
		// INTERNAL, and are decoded only after authentication: see
		// decode.go.
		grpc.ForceServerCodecV2(newCodec()))
	srv := grpc.NewServer(opts...)
	reg := checkedRegistrar{Server: srv, logger: logger}
	featurestorev1.RegisterFeatureStoreServiceServer(reg, svc)
	healthpb.RegisterHealthServer(reg, healthSrv)
	if reflect {
		reflection.Register(reg)
	}
	if m != nil {
		m.GRPC.InitializeMetrics(srv)
	}
	return srv
}

// unaryStatus maps the errors of the interceptors inside it to statuses
// with toStatus; the handlers' own errors are statuses already and pass
// through unchanged.
func unaryStatus(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return resp, toStatus(ctx, logger, err)
		}
		return resp, nil
	}
}

// streamStatus is unaryStatus for streaming calls.
func streamStatus(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := handler(srv, ss); err != nil {
			return toStatus(ss.Context(), logger, err)
		}
		return nil
	}
}
