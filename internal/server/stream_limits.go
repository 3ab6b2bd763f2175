package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StreamLimits bound the bulk work of StreamFeatures (stored rows, rows
// computed with compute = true, and so the export command), so that
// clients that read slowly or not at all cannot take what online reads,
// ingest and health need. (The Postgres connections bulk reads use are
// bounded apart: the serve command gives them a pool, and a store, of
// their own, as Config.Exporter and Config.Rows.)
type StreamLimits struct {
	// MaxStreams is how many StreamFeatures calls are served at once; a
	// call beyond it is answered RESOURCE_EXHAUSTED at once, without
	// waiting.
	MaxStreams int
	// StallTimeout is how long a send may wait on a client that reads
	// nothing before the call is cancelled, freeing its Postgres
	// connection and its place among MaxStreams.
	StallTimeout time.Duration
}

const (
	// DefaultMaxStreams is twice the serve command's default bulk pool:
	// as many streams again as read at once may wait for a connection.
	DefaultMaxStreams = 8
	// DefaultStallTimeout leaves a client a minute to take the next batch.
	DefaultStallTimeout = time.Minute
)

// DefaultStreamLimits returns the limits of a Config that sets none.
func DefaultStreamLimits() StreamLimits {
	return StreamLimits{MaxStreams: DefaultMaxStreams, StallTimeout: DefaultStallTimeout}
}

// withDefaults returns l with each zero field set to its default.
func (l StreamLimits) withDefaults() StreamLimits {
	d := DefaultStreamLimits()
	if l.MaxStreams == 0 {
		l.MaxStreams = d.MaxStreams
	}
	if l.StallTimeout == 0 {
		l.StallTimeout = d.StallTimeout
	}
	return l
}

// validate names the first limit that cannot work; zero is not one of
// them (it takes the default).
func (l StreamLimits) validate() error {
	switch {
	case l.MaxStreams < 0:
		return fmt.Errorf("server: Config.Streams.MaxStreams is %d; at least 1 call must be served (0 for the default of %d)", l.MaxStreams, DefaultMaxStreams)
	case l.StallTimeout < 0:
		return fmt.Errorf("server: Config.Streams.StallTimeout is %s; it must be positive (0 for the default of %s)", l.StallTimeout, DefaultStallTimeout)
	}
	return nil
}

// streamGate admits StreamFeatures calls up to the limit.
type streamGate struct {
	limits StreamLimits
	// slots holds one token per call being served.
	slots            chan struct{}
	refused, stalled prometheus.Counter
}

func newStreamGate(l StreamLimits) *streamGate {
	return &streamGate{
		limits: l,
		slots:  make(chan struct{}, l.MaxStreams),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "featurestore", Name: "streams_refused_total",
			Help: "StreamFeatures calls answered RESOURCE_EXHAUSTED because --max-streams were being served.",
		}),
		stalled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "featurestore", Name: "streams_stalled_total",
			Help: "StreamFeatures calls cancelled because the client read nothing for --stream-stall-timeout.",
		}),
	}
}

// register exports, on reg, the calls being served and the limit, and
// the calls refused or cancelled.
func (g *streamGate) register(reg prometheus.Registerer) error {
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "featurestore", Name: "streams_active",
		Help: "StreamFeatures calls being served.",
	}, func() float64 { return float64(len(g.slots)) })
	limit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "featurestore", Name: "streams_max",
		Help: "StreamFeatures calls served at once at most (--max-streams).",
	}, func() float64 { return float64(cap(g.slots)) })
	for _, c := range []prometheus.Collector{active, limit, g.refused, g.stalled} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("server: register stream metrics: %w", err)
		}
	}
	return nil
}

// admit takes a place for a call, or returns a *tooManyStreamsError when
// there is none. The call must run release when it ends.
func (g *streamGate) admit() (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	default:
		g.refused.Inc()
		return nil, &tooManyStreamsError{limit: g.limits.MaxStreams}
	}
}

// tooManyStreamsError refuses a call while the limit's worth are served.
type tooManyStreamsError struct{ limit int }

func (e *tooManyStreamsError) Error() string {
	return fmt.Sprintf("this server is serving its limit of %d StreamFeatures calls at once (--max-streams, FEATURESTORE_MAX_STREAMS); retry later", e.limit)
}

// streamStalledError cancels a call whose client stopped reading.
type streamStalledError struct{ timeout time.Duration }

func (e *streamStalledError) Error() string {
	return fmt.Sprintf("the call was cancelled: the client read nothing for %s (--stream-stall-timeout, FEATURESTORE_STREAM_STALL_TIMEOUT); resume with the last resume_token", e.timeout)
}

// errSenderClosed is what a stallSender answers once closed.
var errSenderClosed = errors.New("sender closed")

// stallSender sends a stream's messages from a goroutine of its own, so
// that the handler can give up on a client that reads nothing. gRPC's Send
// blocks, with nothing but the end of the stream to stop it, while the
// client's flow-control window is full; the handler, not blocked, cancels
// its database read at once and returns, and gRPC then ends the stream,
// which unblocks the send, and the goroutine ends.
type stallSender[T any] struct {
	timeout time.Duration
	msgs    chan T
	// results has room for the result of a send the handler gave up on, so
	// that the goroutine never blocks on it.
	results chan error
	timer   *time.Timer
	closed  bool
}

func newStallSender[T any](send func(T) error, timeout time.Duration) *stallSender[T] {
	s := &stallSender[T]{timeout: timeout, msgs: make(chan T), results: make(chan error, 1)}
	go func() {
		for m := range s.msgs {
			s.results <- send(m)
		}
	}()
	return s
}

// send sends m and returns the send's error, or a *streamStalledError when
// the send has not returned within the timeout; then the sender takes no
// more messages.
func (s *stallSender[T]) send(m T) error {
	if s.closed {
		return errSenderClosed
	}
	s.msgs <- m
	if s.timer == nil {
		s.timer = time.NewTimer(s.timeout)
	} else {
		s.timer.Reset(s.timeout)
	}
	select {
	case err := <-s.results:
		s.timer.Stop()
		return err
	case <-s.timer.C:
		s.close()
		return &streamStalledError{timeout: s.timeout}
	}
}

// close lets the goroutine end once its send, if one is under way,
// returns.
func (s *stallSender[T]) close() {
	if !s.closed {
		s.closed = true
		close(s.msgs)
	}
}
