package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// OTLPCollector is an OTLP/HTTP endpoint that keeps the trace exports it
// receives, for tests of what a process sends to its collector.
type OTLPCollector struct {
	// URL is the endpoint, for OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string

	mu      sync.Mutex
	exports []string
}

// StartOTLPCollector serves an OTLPCollector until the test ends.
func StartOTLPCollector(t testing.TB) *OTLPCollector {
	t.Helper()
	c := &OTLPCollector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.exports = append(c.exports, string(body))
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Exports returns the bodies of the exports received so far: protobuf
// ExportTraceServiceRequests, uncompressed when the exporter is told
// OTEL_EXPORTER_OTLP_COMPRESSION=none, in which span and service names
// show as plain bytes.
func (c *OTLPCollector) Exports() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.exports...)
}
