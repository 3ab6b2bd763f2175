package tracing

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ServiceName is the service.name of the spans when OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES do not set one.
const ServiceName = "featurestore"

// Enabled reports whether the environment names an OTLP endpoint for
// traces, and OTEL_SDK_DISABLED does not turn the SDK off.
func Enabled() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// FromEnv returns a tracer provider that batches spans to the OTLP
// endpoint the environment names, or nil when tracing is off (Enabled).
// The exporter, sampler, batching and resource follow the SDK's standard
// variables: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT,
// _COMPRESSION, _CERTIFICATE and _PROTOCOL ("http/protobuf", the default,
// or "grpc"); OTEL_TRACES_SAMPLER[_ARG]; OTEL_BSP_*; OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES. The caller must Shutdown the provider, which
// flushes the spans not yet sent.
func FromEnv(ctx context.Context) (*sdktrace.TracerProvider, error) {
	if !Enabled() {
		return nil, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", ServiceName)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	exporter, err := newExporter(ctx)
	if err != nil {
		return nil, err
	}
	return NewProvider(sdktrace.NewBatchSpanProcessor(exporter), sdktrace.WithResource(res)), nil
}

// newExporter returns the OTLP exporter of the protocol the environment
// asks for; each reads its endpoint and settings from the environment.
// Both register gRPC's gzip compressor when linked in, so a gRPC client in
// this process offers gzip (grpc-accept-encoding), whether tracing is on
// or not; the server compresses only answers to calls that came
// compressed.
func newExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	name, protocol := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		name, protocol = "OTEL_EXPORTER_OTLP_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exporter sdktrace.SpanExporter
		err      error
	)
	switch strings.TrimSpace(protocol) {
	case "", "http/protobuf":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("tracing: %s=%q: want grpc or http/protobuf", name, protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	return exporter, nil
}

// NewProvider returns a tracer provider that hands its spans to sp, with
// the SDK's defaults (and so the environment's sampler) unless opts say
// otherwise. FromEnv uses it with a batching exporter; tests with an
// in-memory one.
func NewProvider(sp sdktrace.SpanProcessor, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(append(opts, sdktrace.WithSpanProcessor(sp))...)
}
