package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials/insecure"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestServeExportsSpansOnStop serves with a collector's endpoint in the
// environment and batching that never sends by itself: the span of a call
// reaches the collector only because serve flushes its tracer provider as
// it stops, and the call's log line (at DEBUG, a fast success) names
// the trace.
func TestServeExportsSpansOnStop(t *testing.T) {
	collector := testenv.StartOTLPCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none")
	t.Setenv("OTEL_SERVICE_NAME", "featurestore-serve-test")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	_, dbURL := testenv.Postgres(t)
	addr := freeAddr(t)
	srv := startBinary(t, "serve", "--database-url", dbURL, "--addr", addr, "--log-format", "json", "--log-level", "debug", "--auth", "none")
	testenv.WaitFor(t, time.Minute, "serve answers health checks", func() bool {
		select {
		case <-srv.done:
			t.Fatalf("serve stopped: %s", srv.stderr.String())
		default:
		}
		return healthy(addr, insecure.NewCredentials()) == nil
	})
	client := featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, addr))
	if _, err := client.DescribeFeatures(t.Context(), &featurestorev1.DescribeFeaturesRequest{}); err != nil {
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
			traced = len(line.TraceID) == 32
		}
	}
	if !traced {
		t.Errorf("no log line of the call with a trace_id in:\n%s", srv.stderr.String())
	}
}
