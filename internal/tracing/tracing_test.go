package tracing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/featurestore/featurestore/internal/testenv"
	"github.com/featurestore/featurestore/internal/tracing"
)

// clearEnv unsets every variable that turns tracing on or off.
func clearEnv(t *testing.T) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_RESOURCE_ATTRIBUTES",
		"OTEL_PROPAGATORS"} {
		t.Setenv(name, "")
	}
}

func TestFromEnvOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"no endpoint", nil},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			tp, err := tracing.FromEnv(t.Context())
			if err != nil || tp != nil || tracing.Enabled() {
				t.Errorf("FromEnv = %v, %v (enabled %v); want no provider and no error", tp, err, tracing.Enabled())
			}
		})
	}
}

func TestFromEnvBadSettings(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift"},
		{"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
			t.Setenv(tc.name, tc.value)
			tp, err := tracing.FromEnv(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("FromEnv with %s=%q: %v, %v; want an error naming %s", tc.name, tc.value, tp, err, tc.name)
			}
		})
	}
}

// TestFromEnvExports checks that a provider from the environment sends its
// spans, once flushed by Shutdown, to the OTLP/HTTP endpoint it names, with
// the service name the environment gives.
func TestFromEnvExports(t *testing.T) {
	collector := testenv.StartOTLPCollector(t)
	clearEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none")
	t.Setenv("OTEL_SERVICE_NAME", "featurestore-test")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000") // only Shutdown flushes
	tp, err := tracing.FromEnv(t.Context())
	if err != nil || tp == nil {
		t.Fatalf("FromEnv = %v, %v; want a provider", tp, err)
	}
	_, span := tp.Tracer("test").Start(t.Context(), "exported-span")
	span.End()
	if len(collector.Exports()) != 0 {
		t.Fatal("spans were sent before the provider was flushed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(collector.Exports(), "")
	if got == "" {
		t.Fatal("Shutdown sent no spans to the collector")
	}
	for _, want := range []string{"exported-span", "featurestore-test"} {
		if !strings.Contains(got, want) {
			t.Errorf("the export does not carry %q", want)
		}
	}
}

// TestChildrenOnly checks that Redis and Postgres spans start only inside a
// traced call: without one, a command makes no span at all.
func TestChildrenOnly(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := tracing.NewProvider(sdktrace.NewSimpleSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	opts, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	if err := tracing.InstrumentRedis(tp, rdb); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(spans.GetSpans()); n != 0 {
		t.Fatalf("a command outside a traced call made %d spans", n)
	}
	ctx, call := tp.Tracer("test").Start(t.Context(), "call")
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	call.End()
	var names []string
	for _, s := range spans.GetSpans() {
		names = append(names, s.Name)
		if s.Name == "ping" && s.Parent.SpanID() != call.SpanContext().SpanID() {
			t.Errorf("ping's parent is %s, want the call %s", s.Parent.SpanID(), call.SpanContext().SpanID())
		}
	}
	if !strings.Contains(strings.Join(names, ","), "ping") {
		t.Errorf("a command inside a traced call made the spans %v, want a ping", names)
	}
}
