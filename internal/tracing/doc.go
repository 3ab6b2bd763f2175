// Package tracing sets up OpenTelemetry tracing from the standard
// environment variables and instruments the server's three kinds of I/O
// with it: gRPC calls (otelgrpc's stats handler), Postgres queries
// (otelpgx, a pgx tracer) and Redis commands (redisotel, a go-redis hook).
//
// Tracing is on only when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names a collector. When it is off,
// FromEnv returns no provider and callers install nothing: no stats
// handler, no query tracer, no Redis hook, so an untraced server pays
// nothing for tracing, not even a no-op span per call.
//
// A traced call continues its caller's trace when the call's headers carry
// it in a format OTEL_PROPAGATORS lists (PropagatorFromEnv); an untraced
// server reads no trace headers.
//
// Every instrumentation function takes the provider explicitly rather than
// reading OpenTelemetry's global one, so a test can trace one server with
// an in-memory exporter while others run beside it untraced.
package tracing
