package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/featurestore/featurestore/internal/tracing"
)

// startTracing returns the tracer provider the OTEL_* environment asks for
// (tracing.FromEnv) and the propagators that read a caller's trace context
// (tracing.PropagatorFromEnv, OTEL_PROPAGATORS), or nil and nil when it
// names no OTLP endpoint, and the function that flushes the provider's
// spans, within grace, and stops it. The provider's export errors go to
// logger.
func startTracing(ctx context.Context, grace time.Duration, logger *slog.Logger) (trace.TracerProvider, propagation.TextMapPropagator, func(), error) {
	if !tracing.Enabled() {
		// Untraced, the server reads none of the OTEL_* variables (see
		// tracing.PropagatorFromEnv for OTEL_PROPAGATORS).
		return nil, nil, func() {}, nil
	}
	// The propagators first: a bad value stops serve before a provider
	// exists that would have to be stopped.
	prop, err := tracing.PropagatorFromEnv()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	tp, err := tracing.FromEnv(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("tracing: export failed", "error", err)
	}))
	endpoint := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if u, err := url.Parse(endpoint); err == nil {
		endpoint = u.Redacted()
	}
	logger.Info("tracing to OTLP", "endpoint", endpoint, "trace_headers", prop.Fields())
	return tp, prop, func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		if err := tp.Shutdown(flushCtx); err != nil {
			logger.Warn("tracing: flush spans on stop", "error", err)
		}
	}, nil
}
