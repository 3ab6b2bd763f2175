package tracing

import (
	"context"
	"fmt"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// ServerOption returns the gRPC server option that starts a server span
// for every call to tp, continuing the caller's trace when prop finds one
// in the call's headers (PropagatorFromEnv; nil is DefaultPropagator, the
// W3C headers). Health checks, which probes send every few seconds, are
// not traced. The metrics are Prometheus' (internal/metrics), not
// OpenTelemetry's.
func ServerOption(tp trace.TracerProvider, prop propagation.TextMapPropagator) grpc.ServerOption {
	if prop == nil {
		prop = DefaultPropagator()
	}
	return grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
		otelgrpc.WithPropagators(prop),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck()))))
}

// QueryTracer returns the pgx tracer that makes a span to tp of every
// query, batch, copy, connect and wait for a pooled connection, inside a
// traced call: work with no recording span in its context is not traced.
// Spans carry the statement's text, never its arguments. Attach it to
// every pool (store.WithTracer), so that all of a call's queries show.
func QueryTracer(tp trace.TracerProvider) pgx.QueryTracer {
	return otelpgx.NewTracer(
		otelpgx.WithTracerProvider(tp),
		// "query SELECT", "prepare SELECT": a query's spans tell apart
		// the statement's preparation from its run.
		otelpgx.WithQuerySpanNamePrefix(),
		otelpgx.WithMeterProvider(noop.NewMeterProvider()))
}

// InstrumentRedis adds a hook to rdb, a *redis.Client, *redis.ClusterClient
// or *redis.Ring, that makes a span to tp of every command and pipeline
// inside a traced call, as QueryTracer does of queries: background work
// (a scheduled run's write-through) would otherwise start a trace of its
// own for each pipeline. Spans are named after the commands
// ("hmget", "redis.pipeline hexists hsetnx expire") and carry no
// arguments: keys name customers, and written values are whole feature
// vectors.
func InstrumentRedis(tp trace.TracerProvider, rdb redis.UniversalClient) error {
	err := redisotel.InstrumentTracing(rdb,
		redisotel.WithTracerProvider(childrenOnly{tp}),
		redisotel.WithDBStatement(false),
		// The caller's file and line cost a stack walk per command.
		redisotel.WithCallerEnabled(false),
		// A dial is not a command; the commands that set a new connection
		// up (HELLO, SELECT, CLIENT) show in the call that waited for it.
		redisotel.WithDialFilter(true))
	if err != nil {
		return fmt.Errorf("tracing: instrument redis: %w", err)
	}
	return nil
}

// childrenOnly is a tracer provider whose tracers start a span only inside
// a recording one.
type childrenOnly struct{ trace.TracerProvider }

func (p childrenOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childrenOnlyTracer{p.TracerProvider.Tracer(name, opts...)}
}

type childrenOnlyTracer struct{ trace.Tracer }

// Start starts a span under ctx's, or, when that one does not record,
// returns it: ending a span that does not record does nothing.
func (t childrenOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if parent := trace.SpanFromContext(ctx); !parent.IsRecording() {
		return ctx, parent
	}
	return t.Tracer.Start(ctx, name, opts...)
}

// TraceID returns the trace id of ctx's span, and whether that span is
// recording: ids of spans that are not recorded lead nowhere.
func TraceID(ctx context.Context) (string, bool) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return "", false
	}
	return span.SpanContext().TraceID().String(), true
}
