package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GRPCMetrics are the gRPC server metrics, under the names and labels of
// go-grpc-middleware's Prometheus provider (grpc_server_started_total,
// grpc_server_handled_total, grpc_server_handling_seconds,
// grpc_server_msg_received_total, grpc_server_msg_sent_total, labelled
// grpc_type, grpc_service, grpc_method and, when handled, grpc_code). Each
// method's series are looked up once and kept, so that a call costs no
// label lookup.
type GRPCMetrics struct {
	started, handled, received, sent *prometheus.CounterVec
	handling                         *prometheus.HistogramVec
	methods                          sync.Map // full method name -> *methodMetrics
}

// methodMetrics are one method's series.
type methodMetrics struct {
	started, received, sent prometheus.Counter
	handling                prometheus.Observer
	// handled is indexed by code; codes.Unauthenticated is the last.
	handled [codes.Unauthenticated + 1]prometheus.Counter
}

var _ prometheus.Collector = (*GRPCMetrics)(nil)

// NewGRPCMetrics returns the metrics with the handling-time histogram's
// buckets (in seconds).
func NewGRPCMetrics(buckets []float64) *GRPCMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	return &GRPCMetrics{
		started:  counter("grpc_server_started_total", "Total number of RPCs started on the server.", labels),
		handled:  counter("grpc_server_handled_total", "Total number of RPCs completed on the server, regardless of success or failure.", append(labels[:3:3], "grpc_code")),
		received: counter("grpc_server_msg_received_total", "Total number of RPC stream messages received on the server.", labels),
		sent:     counter("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", labels),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: buckets,
		}, labels),
	}
}

// Describe implements prometheus.Collector.
func (g *GRPCMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range g.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (g *GRPCMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range g.collectors() {
		c.Collect(ch)
	}
}

func (g *GRPCMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.started, g.handled, g.received, g.sent, g.handling}
}

// InitializeMetrics creates every series of srv's methods at zero, so that
// they are exported before their first call.
func (g *GRPCMetrics) InitializeMetrics(srv *grpc.Server) {
	for service, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			g.method("/"+service+"/"+m.Name, m.IsClientStream || m.IsServerStream, m.IsClientStream, m.IsServerStream)
		}
	}
}

// method returns the series of a method, creating them at its first call.
func (g *GRPCMetrics) method(fullMethod string, stream, clientStream, serverStream bool) *methodMetrics {
	if m, ok := g.methods.Load(fullMethod); ok {
		return m.(*methodMetrics)
	}
	typ := "unary"
	switch {
	case clientStream && serverStream:
		typ = "bidi_stream"
	case clientStream:
		typ = "client_stream"
	case serverStream || stream:
		typ = "server_stream"
	}
	service, name, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	m := &methodMetrics{
		started:  g.started.WithLabelValues(typ, service, name),
		received: g.received.WithLabelValues(typ, service, name),
		sent:     g.sent.WithLabelValues(typ, service, name),
		handling: g.handling.WithLabelValues(typ, service, name),
	}
	for c := range m.handled {
		m.handled[c] = g.handled.WithLabelValues(typ, service, name, codes.Code(c).String())
	}
	actual, _ := g.methods.LoadOrStore(fullMethod, m)
	return actual.(*methodMetrics)
}

func (m *methodMetrics) done(start time.Time, err error) {
	code := status.Code(err)
	if int(code) >= len(m.handled) {
		code = codes.Unknown
	}
	m.handled[code].Inc()
	m.handling.Observe(time.Since(start).Seconds())
}

// UnaryServerInterceptor counts and times unary calls.
func (g *GRPCMetrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		m := g.method(info.FullMethod, false, false, false)
		start := time.Now()
		m.started.Inc()
		m.received.Inc()
		resp, err := handler(ctx, req)
		if err == nil {
			m.sent.Inc()
		}
		m.done(start, err)
		return resp, err
	}
}

// StreamServerInterceptor counts and times streaming calls and counts
// their messages.
func (g *GRPCMetrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		m := g.method(info.FullMethod, true, info.IsClientStream, info.IsServerStream)
		start := time.Now()
		m.started.Inc()
		err := handler(srv, &countedStream{ServerStream: ss, m: m})
		m.done(start, err)
		return err
	}
}

// countedStream counts the messages of a stream.
type countedStream struct {
	grpc.ServerStream
	m *methodMetrics
}

func (s *countedStream) SendMsg(msg any) error {
	err := s.ServerStream.SendMsg(msg)
	if err == nil {
		s.m.sent.Inc()
	}
	return err
}

func (s *countedStream) RecvMsg(msg any) error {
	err := s.ServerStream.RecvMsg(msg)
	if err == nil {
		s.m.received.Inc()
	}
	return err
}
