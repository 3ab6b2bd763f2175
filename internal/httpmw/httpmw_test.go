package httpmw_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/featurestore/featurestore/internal/httpmw"
)

func TestWrap(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := httpmw.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		httpmw.AddAttrs(r.Context(), slog.String("api_key", "shop-pixel"))
		_, _ = w.Write([]byte("fine"))
	})
	mux.HandleFunc("/refused", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := httpmw.Wrap("pixel", mux, logger, m)

	for _, tc := range []struct {
		path   string
		status int
		level  string
	}{
		{"/ok?key=fsk_secret", 200, "level=INFO"},
		{"/refused", 429, "level=WARN"},
		{"/panic", 500, "level=ERROR"},
	} {
		logs.Reset()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, rec.Code, tc.status)
		}
		line := logs.String()
		if !strings.Contains(line, `msg="http request" handler=pixel method=POST path=/`) || !strings.Contains(line, tc.level) {
			t.Errorf("%s: log %q", tc.path, line)
		}
		if strings.Contains(line, "fsk_secret") {
			t.Errorf("%s: the log holds the query's key: %s", tc.path, line)
		}
	}
	logs.Reset()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/ok", nil))
	if !strings.Contains(logs.String(), "api_key=shop-pixel") || !strings.Contains(logs.String(), "status=200 bytes=4") {
		t.Errorf("the log line lacks the handler's attributes: %s", logs.String())
	}
	for _, tc := range []struct {
		method, code string
		want         float64
	}{{"post", "200", 1}, {"post", "429", 1}, {"post", "500", 1}, {"get", "200", 1}} {
		got := counterValue(t, reg, "featurestore_http_requests_total", map[string]string{"handler": "pixel", "method": tc.method, "code": tc.code})
		if got != tc.want {
			t.Errorf("requests{%s %s} = %v, want %v", tc.method, tc.code, got, tc.want)
		}
	}
	if got := counterValue(t, reg, "featurestore_http_panics_recovered_total", map[string]string{"handler": "pixel"}); got != 1 {
		t.Errorf("panics = %v, want 1", got)
	}
}

// counterValue is the value of the counter name with labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s with %v", name, labels)
	return 0
}
