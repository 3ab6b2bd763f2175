package httpmw

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors of every HTTP listener, labelled by handler.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   *prometheus.CounterVec
}

// NewMetrics registers the HTTP collectors on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "featurestore", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by handler, method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "featurestore", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer HTTP requests, by handler and method.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10},
		}, []string{"handler", "method"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "featurestore", Subsystem: "http", Name: "panics_recovered_total",
			Help: "HTTP handler panics that were recovered and answered with 500.",
		}, []string{"handler"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.panics} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Wrap returns h behind metrics (outermost, when m is not nil), a request
// log line and panic recovery, all named name.
func Wrap(name string, h http.Handler, logger *slog.Logger, m *Metrics) http.Handler {
	var panics prometheus.Counter
	if m != nil {
		panics = m.panics.WithLabelValues(name)
	}
	out := logRequests(name, recoverPanics(name, h, logger, panics), logger)
	if m != nil {
		labels := prometheus.Labels{"handler": name}
		out = promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(labels),
			promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(labels), out))
	}
	return out
}

// attrsKey is the context key of a request's extra log attributes.
type attrsKey struct{}

// AddAttrs adds attributes to the log line of the request of ctx, such as
// the name of the key that authenticated it. Outside Wrap it does nothing.
func AddAttrs(ctx context.Context, attrs ...slog.Attr) {
	if p, ok := ctx.Value(attrsKey{}).(*[]slog.Attr); ok {
		*p = append(*p, attrs...)
	}
}

// recorder notes the status and size of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests writes one line per request: 5xx answers at error level,
// refusals (401, 403, 429) at warn, the rest at info. The line has the
// path without its query, which may carry a key.
func logRequests(name string, h http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var attrs []slog.Attr
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), attrsKey{}, &attrs)))
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests:
			level = slog.LevelWarn
		}
		attrs = append([]slog.Attr{
			slog.String("handler", name), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Int64("bytes", rec.bytes), slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		}, attrs...)
		logger.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// recoverPanics answers a panicking request with 500 (when nothing was
// sent yet) and logs the panic with its stack. http.ErrAbortHandler, the
// way to abort a response on purpose, passes through.
func recoverPanics(name string, h http.Handler, logger *slog.Logger, panics prometheus.Counter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p)
			}
			if panics != nil {
				panics.Inc()
			}
			logger.ErrorContext(r.Context(), "http handler panic", "handler", name, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if rec.status == 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"error":"internal error"}` + "\n"))
			}
		}()
		h.ServeHTTP(rec, r)
	})
}
