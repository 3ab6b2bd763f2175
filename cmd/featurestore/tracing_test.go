package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestServeExportsSpansOnStop serves with a collector's endpoint in the
// environment and batching that never sends by itself: the span of a call
// reaches the collector only because serve flushes its tracer provider as
// it stops, and the call's log line (at DEBUG, a fast success) names
// the trace, which is the caller's, sent in the B3 header that
// OTEL_PROPAGATORS selects.
func TestServeExportsSpansOnStop(t *testing.T) {
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	collector := testenv.StartOTLPCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_PROPAGATORS", "tracecontext,b3")
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none")
	t.Setenv("OTEL_SERVICE_NAME", "featurestore-serve-test")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	_, dbURL := testenv.Postgres(t)
	addr := freeAddr(t)
	srv := startBinary(t, "serve", "--database-url", dbURL, "--addr", addr, "--metrics-addr", "", "--log-format", "json", "--log-level", "debug", "--auth", "none")
	testenv.WaitFor(t, time.Minute, "serve answers health checks", func() bool {
		select {
		case <-srv.done:
			t.Fatalf("serve stopped: %s", srv.stderr.String())
		default:
		}
		return healthy(addr, insecure.NewCredentials()) == nil
	})
	client := featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, addr))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "b3", callerTrace+"-00f067aa0ba902b7-1")
	if _, err := client.DescribeFeatures(ctx, &featurestorev1.DescribeFeaturesRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := len(collector.Exports()); n != 0 {
		t.Fatalf("%d exports before serve stopped; the batching should hold them", n)
	}
	srv.stop(t)
	if code := srv.exitCode(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, srv.stderr.String())
	}
	exported := strings.Join(collector.Exports(), "")
	for _, want := range []string{"featurestore.v1.FeatureStoreService/DescribeFeatures", "featurestore-serve-test"} {
		if !strings.Contains(exported, want) {
			t.Errorf("the collector received no %q", want)
		}
	}
	if strings.Contains(exported, "grpc.health.v1") {
		t.Error("health checks were traced")
	}
	var traced bool
	for l := range strings.Lines(srv.stderr.String()) {
		var line struct {
			Method  string `json:"grpc.method"`
			TraceID string `json:"trace_id"`
		}
		if json.Unmarshal([]byte(l), &line) == nil && line.Method == "DescribeFeatures" {
			traced = line.TraceID == callerTrace
		}
	}
	if !traced {
		t.Errorf("no log line of the call with the caller's trace_id %s in:\n%s", callerTrace, srv.stderr.String())
	}
}

// TestServeRefusesUnknownPropagators: with tracing on, an OTEL_PROPAGATORS
// name that no propagator has stops serve before it opens anything, with a
// usage error naming the variable. With tracing off the variable is not
// read (tracing.PropagatorFromEnv says why), so the same value starts no
// tracing and is no error.
func TestServeRefusesUnknownPropagators(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_PROPAGATORS", "tracecontext,zipkin")
	err := runServe(t.Context(), []string{"--database-url", "postgres://u@127.0.0.1/db"})
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "OTEL_PROPAGATORS") || !strings.Contains(err.Error(), `"zipkin"`) {
		t.Fatalf("serve with OTEL_PROPAGATORS=tracecontext,zipkin: %v; want a usage error naming the variable and zipkin", err)
	}

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	tp, prop, flush, err := startTracing(t.Context(), time.Second, testenv.Logger())
	if err != nil || tp != nil || prop != nil {
		t.Fatalf("untraced, startTracing = %v, %v, %v; want no provider, no propagator and no error", tp, prop, err)
	}
	flush()
}
