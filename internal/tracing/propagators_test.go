package tracing_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/testenv"
	"github.com/featurestore/featurestore/internal/tracing"
)

// The caller's trace: every header format below carries these ids.
const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

// callerHeaders are the caller's trace in each format a propagator reads.
var callerHeaders = map[string][]string{
	"tracecontext": {"traceparent", "00-" + callerTrace + "-" + callerSpan + "-01"},
	"b3":           {"b3", callerTrace + "-" + callerSpan + "-1"},
	"b3multi":      {"x-b3-traceid", callerTrace, "x-b3-spanid", callerSpan, "x-b3-sampled", "1"},
	"jaeger":       {"uber-trace-id", callerTrace + ":" + callerSpan + ":0:1"},
	"xray":         {"x-amzn-trace-id", "Root=1-" + callerTrace[:8] + "-" + callerTrace[8:] + ";Parent=" + callerSpan + ";Sampled=1"},
	"ottrace":      {"ot-tracer-traceid", callerTrace, "ot-tracer-spanid", callerSpan, "ot-tracer-sampled", "true"},
	// The caller's trace in B3 beside another in traceparent.
	"b3 over another trace's traceparent": {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"b3", callerTrace + "-" + callerSpan + "-1"},
}

// TestPropagatorFromEnv sends a call with the caller's trace in one header
// format to a server traced with the propagators OTEL_PROPAGATORS selects,
// and checks whether the call's server span continues that trace.
func TestPropagatorFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name, env, headers string
		continued          bool
	}{
		{"unset reads traceparent", "", "tracecontext", true},
		{"unset reads no b3", "", "b3", false},
		{"blank is unset", " , ", "tracecontext", true},
		{"tracecontext", "tracecontext,baggage", "tracecontext", true},
		{"b3", "b3", "b3", true},
		{"b3 ignores traceparent", "b3", "tracecontext", false},
		{"b3multi, any case", "B3Multi", "b3multi", true},
		{"jaeger", "jaeger", "jaeger", true},
		{"xray", "xray", "xray", true},
		{"ottrace", "ottrace", "ottrace", true},
		{"the second of a list, with spaces", " b3 , tracecontext ", "tracecontext", true},
		{"the last listed wins", "tracecontext,b3", "b3 over another trace's traceparent", true},
		{"none", "none", "tracecontext", false},
		{"none in a list", "tracecontext,none", "tracecontext", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tracing.PropagatorsEnv, tc.env)
			prop, err := tracing.PropagatorFromEnv()
			if err != nil {
				t.Fatalf("PropagatorFromEnv with %s=%q: %v", tracing.PropagatorsEnv, tc.env, err)
			}
			span := serverSpan(t, prop, callerHeaders[tc.headers]...)
			continued := span.SpanContext.TraceID().String() == callerTrace
			if continued != tc.continued {
				t.Fatalf("with %s=%q and %s headers, the server span is in trace %s (parent %s); continued %v, want %v",
					tracing.PropagatorsEnv, tc.env, tc.headers, span.SpanContext.TraceID(), span.Parent.SpanID(), continued, tc.continued)
			}
			if continued && (span.Parent.SpanID().String() != callerSpan || !span.Parent.IsRemote()) {
				t.Errorf("the server span's parent is %s (remote %v), want the caller's span %s",
					span.Parent.SpanID(), span.Parent.IsRemote(), callerSpan)
			}
			if !continued && span.Parent.IsValid() {
				t.Errorf("the server span has the parent %s, want none", span.Parent.SpanID())
			}
		})
	}
}

func TestPropagatorFromEnvRefusesUnknownNames(t *testing.T) {
	for _, tc := range []struct{ value, unknown string }{
		{"zipkin", `"zipkin"`},
		{"b3,zipkin,w3c", `"zipkin", "w3c"`},
		{"tracecontext;baggage", `"tracecontext;baggage"`},
		// An unknown name is refused even beside "none", which would
		// otherwise hide it.
		{"nope,none", `"nope"`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Setenv(tracing.PropagatorsEnv, tc.value)
			prop, err := tracing.PropagatorFromEnv()
			if err == nil {
				t.Fatalf("PropagatorFromEnv with %s=%q = %v, want an error", tracing.PropagatorsEnv, tc.value, prop)
			}
			for _, want := range []string{tracing.PropagatorsEnv, tc.unknown, "tracecontext, baggage, b3"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		})
	}
}

func TestDefaultPropagatorReadsW3CHeaders(t *testing.T) {
	got := tracing.DefaultPropagator().Fields()
	for _, want := range []string{"traceparent", "tracestate", "baggage"} {
		if !slices.Contains(got, want) {
			t.Errorf("DefaultPropagator reads %v, want %s among them", got, want)
		}
	}
}

// serverSpan serves a FeatureStoreService that implements nothing, traced
// with prop, and returns the server span of one call that sends the
// metadata kv (key, value, ...).
func serverSpan(t *testing.T, prop propagation.TextMapPropagator, kv ...string) tracetest.SpanStub {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	tp := tracing.NewProvider(sdktrace.NewSimpleSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	srv := grpc.NewServer(tracing.ServerOption(tp, prop))
	featurestorev1.RegisterFeatureStoreServiceServer(srv, featurestorev1.UnimplementedFeatureStoreServiceServer{})
	conn := testenv.ServeBufconn(t, srv)
	ctx := metadata.AppendToOutgoingContext(t.Context(), kv...)
	// The call fails (Unimplemented); its span is made all the same.
	_, _ = featurestorev1.NewFeatureStoreServiceClient(conn).DescribeFeatures(ctx, &featurestorev1.DescribeFeaturesRequest{})
	// The server ends its span after it sent the answer: the client may
	// have it first.
	testenv.WaitFor(t, 10*time.Second, "the call's server span", func() bool { return len(spans.GetSpans()) > 0 })
	got := spans.GetSpans()
	if len(got) != 1 || got[0].SpanKind != trace.SpanKindServer {
		t.Fatalf("the call made %d spans, want its server span: %+v", len(got), got)
	}
	return got[0]
}
