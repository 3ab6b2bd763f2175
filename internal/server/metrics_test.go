package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/health"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/metrics"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestMetrics serves with the metrics chain and a cache, makes calls, and
// reads the registry: per-RPC counts and latency histograms, cache results
// and pool gauges are all there and moved.
func TestMetrics(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	m := metrics.New()
	st := store.New(pool)
	if err := m.RegisterPool(st); err != nil {
		t.Fatal(err)
	}
	redisURL := testenv.Redis(t)
	cacheCfg := cache.DefaultConfig(redisURL)
	cacheCfg.Mode = cache.Mode(testenv.RedisModeOf(redisURL))
	cacheCfg.Timeout = 10 * time.Second // a busy machine's round trip, not a cache failure
	cacheCfg.Registerer = m.Registry
	c, err := cache.New(context.Background(), st, cacheCfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	engineCfg := compute.DefaultConfig()
	engineCfg.Sink = c
	engine := newEngine(t, st, engineCfg)
	svc := newService(t, server.Config{Computer: engine, Reader: c})
	addr := testenv.ServeGRPC(t, server.NewGRPCServer(svc, health.NewServer(), testenv.Logger(), m), "127.0.0.1:0")
	client := featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, addr))
	ctx := context.Background()

	if _, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0"}); err != nil {
		t.Fatal(err)
	}
	req := &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: cust1000, ProductIds: []string{product(9000), product(9009)}}
	for range 3 { // a miss, then hits
		if _, err := client.GetFeatures(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.GetFeatures(ctx, &featurestorev1.GetFeaturesRequest{}); err == nil {
		t.Fatal("an invalid request succeeded")
	}

	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, metric := range f.GetMetric() {
				if matches(metric, labels) {
					switch {
					case metric.GetCounter() != nil:
						return metric.GetCounter().GetValue()
					case metric.GetGauge() != nil:
						return metric.GetGauge().GetValue()
					case metric.GetHistogram() != nil:
						return float64(metric.GetHistogram().GetSampleCount())
					}
				}
			}
		}
		t.Errorf("no metric %s%v", name, labels)
		return -1
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"grpc_server_handled_total", map[string]string{"grpc_method": "GetFeatures", "grpc_code": "OK"}, 3},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "GetFeatures", "grpc_code": "InvalidArgument"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "ComputeFeatures", "grpc_code": "OK"}, 1},
		{"grpc_server_handling_seconds", map[string]string{"grpc_method": "GetFeatures"}, 4},
		{"featurestore_cache_lookups_total", map[string]string{"result": "miss"}, 2},
		{"featurestore_cache_lookups_total", map[string]string{"result": "hit"}, 4},
		{"featurestore_cache_breaker_open", nil, 0},
		{"featurestore_grpc_panics_recovered_total", nil, 0},
	} {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value("featurestore_postgres_pool_max_connections", nil); got < 1 {
		t.Errorf("postgres pool max = %v", got)
	}
	if got := value("featurestore_redis_pool_connections", nil); got < 1 {
		t.Errorf("redis pool connections = %v", got)
	}
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && strings.EqualFold(l.GetValue(), v) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
