package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/featurestore/featurestore/internal/tracing"
)

// startTracing returns the tracer provider the OTEL_* environment asks for
// (tracing.FromEnv), or nil when it names no OTLP endpoint, and the
// function that flushes its spans, within grace, and stops it. The
// provider's export errors go to logger.
func startTracing(ctx context.Context, grace time.Duration, logger *slog.Logger) (trace.TracerProvider, func(), error) {
	tp, err := tracing.FromEnv(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if tp == nil {
		return nil, func() {}, nil
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
	logger.Info("tracing to OTLP", "endpoint", endpoint)
	return tp, func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		if err := tp.Shutdown(flushCtx); err != nil {
			logger.Warn("tracing: flush spans on stop", "error", err)
		}
	}, nil
}
