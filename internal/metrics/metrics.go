// Package metrics holds the service's Prometheus registry: gRPC latency
// histograms per RPC, the panic counter, and the Postgres pool's gauges.
// Other packages register their own collectors (the cache its counters) on
// the same registry, so one /metrics endpoint shows everything.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/featurestore/featurestore/internal/store"
)

// Metrics is the registry and the collectors the server's interceptors use.
type Metrics struct {
	Registry *prometheus.Registry
	GRPC     *GRPCMetrics
	Panics   prometheus.Counter
}

// New returns a registry with the process and Go runtime collectors, the
// gRPC server metrics (with latency histograms suited to sub-millisecond
// reads as well as minute-long compute runs) and the panic counter.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		GRPC:     NewGRPCMetrics([]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 120}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "featurestore", Name: "grpc_panics_recovered_total",
			Help: "Handler panics that were recovered and answered with INTERNAL.",
		}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.GRPC, m.Panics)
	return m
}

// PoolStater reports a Postgres pool's state; *store.Store implements it.
type PoolStater interface {
	// PoolStats must return the pool's state now; it is called at every
	// scrape.
	PoolStats() store.PoolStats
}

var _ PoolStater = (*store.Store)(nil)

// RegisterPool exports the Postgres pool's state.
func (m *Metrics) RegisterPool(pool PoolStater) error {
	return m.Registry.Register(newPoolCollector(pool, "featurestore_postgres_pool_"))
}

// RegisterBulkPool exports the state of the pool that bulk reads have to
// themselves, as featurestore_postgres_bulk_pool_*.
func (m *Metrics) RegisterBulkPool(pool PoolStater) error {
	return m.Registry.Register(newPoolCollector(pool, "featurestore_postgres_bulk_pool_"))
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// poolCollector reads pgxpool's statistics at scrape time.
type poolCollector struct {
	pool                                  PoolStater
	acquired, idle, total, max            *prometheus.Desc
	acquires, emptyAcquires, acquireNanos *prometheus.Desc
}

func newPoolCollector(pool PoolStater, prefix string) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prefix+name, help, nil, nil)
	}
	return &poolCollector{pool: pool,
		acquired:      d("acquired_connections", "Connections in use."),
		idle:          d("idle_connections", "Idle connections."),
		total:         d("connections", "Open connections."),
		max:           d("max_connections", "The pool's maximum size."),
		acquires:      d("acquires_total", "Connections acquired from the pool."),
		emptyAcquires: d("empty_acquires_total", "Acquires that had to wait for a connection."),
		acquireNanos:  d("acquire_seconds_total", "Time spent waiting for connections."),
	}
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.acquired, p.idle, p.total, p.max, p.acquires, p.emptyAcquires, p.acquireNanos} {
		ch <- d
	}
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.pool.PoolStats()
	ch <- prometheus.MustNewConstMetric(p.acquired, prometheus.GaugeValue, float64(s.Acquired))
	ch <- prometheus.MustNewConstMetric(p.idle, prometheus.GaugeValue, float64(s.Idle))
	ch <- prometheus.MustNewConstMetric(p.total, prometheus.GaugeValue, float64(s.Total))
	ch <- prometheus.MustNewConstMetric(p.max, prometheus.GaugeValue, float64(s.Max))
	ch <- prometheus.MustNewConstMetric(p.acquires, prometheus.CounterValue, float64(s.Acquires))
	ch <- prometheus.MustNewConstMetric(p.emptyAcquires, prometheus.CounterValue, float64(s.EmptyAcquires))
	ch <- prometheus.MustNewConstMetric(p.acquireNanos, prometheus.CounterValue, s.AcquireDuration.Seconds())
}
