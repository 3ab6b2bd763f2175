package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/health"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
	"github.com/featurestore/featurestore/internal/tracing"
)

const getFeaturesSpan = "featurestore.v1.FeatureStoreService/GetFeatures"

// startTraced serves the database at url with a Redis cache at redisURL,
// everything traced to tp as serve traces it, logging JSON lines to logs.
func startTraced(t testing.TB, url, redisURL string, tp trace.TracerProvider, logs *testenv.SyncBuffer) featurestorev1.FeatureStoreServiceClient {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, url, store.WithTracer(tracing.QueryTracer(tp)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool)
	cc := cache.DefaultConfig(redisURL)
	cc.Mode = cache.Mode(testenv.RedisModeOf(redisURL))
	cc.Timeout, cc.PollInterval, cc.TracerProvider = 10*time.Second, time.Hour, tp
	c, err := cache.New(ctx, st, cc, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cfg := compute.DefaultConfig()
	cfg.Sink = c
	engine := newEngine(t, st, cfg)
	svc := newService(t, server.Config{Computer: engine, Rows: engine, Reader: c, Ingester: ingest.NewWriter(st)})
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return dialBufconn(t, server.NewGRPCServer(svc, health.NewServer(), logger, nil, server.WithTracing(tp, nil)))
}

// TestTraceOfColdGetFeatures reads a customer that Redis does not hold yet
// and checks the trace the call leaves: the server span of the call; in
// it the Redis lookup that misses and the fill; in the fill the Postgres
// read of the customer's rows and the Redis writes; all of one trace, and
// the call's log line naming it.
func TestTraceOfColdGetFeatures(t *testing.T) {
	t.Parallel()
	redisURL := testenv.Redis(t)
	o := startOnline(t, redisURL, nil) // computes the golden rows, untraced
	spans := tracetest.NewInMemoryExporter()
	tp := tracing.NewProvider(sdktrace.NewSimpleSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.WithoutCancel(t.Context())) })
	logs := &testenv.SyncBuffer{}
	client := startTraced(t, o.pool.Config().ConnString(), redisURL, tp, logs)

	req := &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: cust1000, ProductIds: []string{product(9000), product(9001)}}
	if _, err := client.GetFeatures(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	// The server ends its span just after the answer is sent.
	testenv.WaitFor(t, time.Minute, "the server span of the call", func() bool {
		return slices.ContainsFunc(spans.GetSpans(), func(s tracetest.SpanStub) bool { return s.Name == getFeaturesSpan })
	})
	got := spans.GetSpans()
	tree := spanTree(got)
	t.Logf("the spans of one cold GetFeatures:\n%s", tree)

	root := findSpan(t, got, tree, getFeaturesSpan, trace.SpanID{})
	if root.SpanKind != trace.SpanKindServer || root.Parent.IsValid() {
		t.Errorf("%s: kind %s, parent %s; want a server span at the root", root.Name, root.SpanKind, root.Parent.SpanID())
	}
	for _, s := range got {
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("span %s is of trace %s, not the call's %s", s.Name, s.SpanContext.TraceID(), root.SpanContext.TraceID())
		}
	}
	findSpan(t, got, tree, "hmget", root.SpanContext.SpanID())
	fill := findSpan(t, got, tree, "cache.fill", root.SpanContext.SpanID())
	read := findSpan(t, got, tree, "query SELECT", fill.SpanContext.SpanID())
	if q := attr(read, "db.query.text"); !strings.Contains(q, "interaction_features") {
		t.Errorf("the fill's Postgres read ran %q, want a read of interaction_features", q)
	}
	// The fill's writes: one pipeline, or two when Redis did not know the
	// script yet.
	if n := len(childSpans(got, "redis.pipeline evalsha", fill.SpanContext.SpanID())); n == 0 {
		t.Errorf("no Redis write in the fill; the spans:\n%s", tree)
	}
	for _, s := range got {
		if s.SpanKind == trace.SpanKindClient && strings.HasPrefix(s.Name, "redis") && attr(s, "db.statement") != "" {
			t.Errorf("span %s carries the command's arguments: %q", s.Name, attr(s, "db.statement"))
		}
	}

	// The call's log line names its trace.
	var line struct {
		Method  string `json:"grpc.method"`
		TraceID string `json:"trace_id"`
	}
	for l := range strings.Lines(logs.String()) {
		if err := json.Unmarshal([]byte(l), &line); err == nil && line.Method == "GetFeatures" {
			break
		}
		line.Method = ""
	}
	if line.Method == "" {
		t.Fatalf("no log line of the call in:\n%s", logs.String())
	}
	if want := root.SpanContext.TraceID().String(); line.TraceID != want {
		t.Errorf("the call's log line has trace_id %q, want %q", line.TraceID, want)
	}
}

// TestUntracedInstallsNothing serves without tracing while OpenTelemetry's
// global provider records: a cold read, which passes through every
// instrumented client, must leave no span there, and no trace id in its
// log line. Instrumentation installed without a provider of its own would
// fall back to the global one and show here.
func TestUntracedInstallsNothing(t *testing.T) {
	// Not parallel: it sets the process's global provider.
	spans := tracetest.NewInMemoryExporter()
	global := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(global)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	redisURL := testenv.Redis(t)
	o := startOnline(t, redisURL, nil)
	if _, err := o.client.GetFeatures(t.Context(), &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: cust1000, ProductIds: []string{product(9000)}}); err != nil {
		t.Fatal(err)
	}
	if err := global.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := spans.GetSpans(); len(got) > 0 {
		t.Errorf("an untraced server made %d spans:\n%s", len(got), spanTree(got))
	}
}

// findSpan returns the one span named name whose parent is parent (none,
// when parent is zero), failing the test, with the tree, when there is
// not exactly one.
func findSpan(t *testing.T, spans tracetest.SpanStubs, tree, name string, parent trace.SpanID) tracetest.SpanStub {
	t.Helper()
	found := childSpans(spans, name, parent)
	if len(found) != 1 {
		t.Fatalf("%d spans %q with parent %s, want 1; the spans:\n%s", len(found), name, parent, tree)
	}
	return found[0]
}

// childSpans returns the spans named name whose parent is parent.
func childSpans(spans tracetest.SpanStubs, name string, parent trace.SpanID) []tracetest.SpanStub {
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name && s.Parent.SpanID() == parent {
			found = append(found, s)
		}
	}
	return found
}

// attr returns the value of s's attribute key, or "".
func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// spanTree draws spans as a tree, children under their parent in the order
// they started, each with its kind and duration.
func spanTree(spans tracetest.SpanStubs) string {
	slices.SortFunc(spans, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	ids := make(map[trace.SpanID]bool, len(spans))
	for _, s := range spans {
		ids[s.SpanContext.SpanID()] = true
	}
	var b strings.Builder
	var draw func(parent trace.SpanID, depth int)
	draw = func(parent trace.SpanID, depth int) {
		for _, s := range spans {
			p := s.Parent.SpanID()
			if !ids[p] {
				p = trace.SpanID{} // a root, or a span whose parent is missing
			}
			if p != parent || s.SpanContext.SpanID() == parent {
				continue
			}
			fmt.Fprintf(&b, "%s%s (%s)", strings.Repeat("  ", depth), s.Name, s.SpanKind)
			if q := strings.Join(strings.Fields(attr(s, "db.query.text")), " "); q != "" {
				fmt.Fprintf(&b, ": %.60s...", q)
			}
			b.WriteByte('\n')
			draw(s.SpanContext.SpanID(), depth+1)
		}
	}
	draw(trace.SpanID{}, 0)
	return b.String()
}

// BenchmarkGetFeaturesWarmTraced is BenchmarkGetFeaturesWarm's Redis read
// with every call traced and its spans batched to an exporter that drops
// them: the cost of tracing on, against which the untraced benchmark
// shows the cost of tracing off.
func BenchmarkGetFeaturesWarmTraced(b *testing.B) {
	products := make([]string, 100)
	for i := range products {
		products[i] = product(9000 + i)
	}
	req := &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: cust1000, ProductIds: products}
	redisURL := testenv.Redis(b)
	o := startOnline(b, redisURL, nil)
	tp := tracing.NewProvider(sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	client := startTraced(b, o.pool.Config().ConnString(), redisURL, tp, &testenv.SyncBuffer{})
	ctx := context.Background()
	if _, err := client.GetFeatures(ctx, req); err != nil { // warm
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.GetFeatures(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
