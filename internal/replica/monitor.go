package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/featurestore/featurestore/internal/store"
)

// Primary is what a Monitor asks of the primary; *store.Store implements it.
type Primary interface {
	// WALInsertLSN must return the primary's WAL insert position: every
	// transaction committed before the call lies before it.
	WALInsertLSN(ctx context.Context) (uint64, error)
}

// Standby is what a Monitor asks of the replica; *store.Store implements it.
type Standby interface {
	// ReplayLSN must return the position up to which the replica has
	// replayed the primary's WAL, and false when it is not in recovery.
	ReplayLSN(ctx context.Context) (uint64, bool, error)
}

var (
	_ Primary = (*store.Store)(nil)
	_ Standby = (*store.Store)(nil)
)

// Config is a Monitor's settings.
type Config struct {
	// MaxLag is the furthest behind the primary the replica may be and
	// still be read.
	MaxLag time.Duration
	// CheckInterval is the time between two measurements; the lag is
	// measured to within it. Zero takes a tenth of MaxLag, between 50 ms
	// and one second.
	CheckInterval time.Duration
}

// DefaultMaxLag is the default of Config.MaxLag (--max-replica-lag).
const DefaultMaxLag = 5 * time.Second

// Validate names the first bad setting.
func (c Config) Validate() error {
	switch {
	case c.MaxLag <= 0:
		return fmt.Errorf("replica: MaxLag is %s; it must be positive", c.MaxLag)
	case c.CheckInterval < 0:
		return fmt.Errorf("replica: CheckInterval is %s; it must not be negative (0 takes a tenth of MaxLag)", c.CheckInterval)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.CheckInterval == 0 {
		c.CheckInterval = min(max(c.MaxLag/10, 50*time.Millisecond), time.Second)
	}
	return c
}

// maxSamples bounds the positions a Monitor keeps while the replica
// replays none of them; older ones are dropped, which can only make the
// measured lag larger.
const maxSamples = 1024

// sample is the primary's WAL position noted at a time, as an offset on
// the Monitor's monotonic clock.
type sample struct {
	at  time.Duration
	lsn uint64
}

// Monitor measures the replica's lag behind the primary (see the package
// comment) and says whether it may be read. Its methods are safe for
// concurrent use; Fresh and Lag cost no query.
type Monitor struct {
	primary Primary
	standby Standby
	cfg     Config
	logger  *slog.Logger
	start   time.Time

	mu      sync.Mutex // serialises Check
	samples []sample
	// caughtUp is, on the monotonic clock since start, the latest time up
	// to which the replica holds every commit of the primary, plus one (0:
	// not known).
	caughtUp atomic.Int64
	// standbyOK is false while the replica does not answer or is not in
	// recovery.
	standbyOK atomic.Bool
}

// NewMonitor returns a monitor of standby's lag behind primary. It knows
// no lag, and so sends every read to the primary, until its first Check.
func NewMonitor(primary Primary, standby Standby, cfg Config, logger *slog.Logger) (*Monitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Monitor{primary: primary, standby: standby, cfg: cfg.withDefaults(), logger: logger, start: time.Now()}, nil
}

// errNotStandby says that the replica is not in recovery.
var errNotStandby = errors.New("the read database is not in recovery: not a streaming replica (promoted?); reading the primary")

// Check measures once: it notes the primary's WAL position and asks the
// replica how far it has replayed. An error leaves the replica's last
// known position, so that its lag keeps growing until a check succeeds;
// a replica not in recovery is not read until it is again.
func (m *Monitor) Check(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// The time is taken before the position is read: the position then
	// covers every commit before that time.
	at := time.Since(m.start)
	lsn, err := m.primary.WALInsertLSN(ctx)
	if err != nil {
		return fmt.Errorf("replica lag: %w", err)
	}
	if n := len(m.samples); n == 0 || m.samples[n-1].lsn != lsn {
		m.samples = append(m.samples, sample{at: at, lsn: lsn})
	} else {
		m.samples[n-1].at = at // the same position, known to be current later
	}
	if len(m.samples) > maxSamples {
		m.samples = append(m.samples[:0], m.samples[len(m.samples)-maxSamples:]...)
	}
	replayed, standby, err := m.standby.ReplayLSN(ctx)
	if err != nil {
		m.standbyOK.Store(false)
		return fmt.Errorf("replica lag: %w", err)
	}
	if !standby {
		m.standbyOK.Store(false)
		return errNotStandby
	}
	m.standbyOK.Store(true)
	passed := -1
	for i, s := range m.samples {
		if s.lsn > replayed {
			break
		}
		passed = i
	}
	if passed >= 0 {
		if t := int64(m.samples[passed].at) + 1; t > m.caughtUp.Load() {
			m.caughtUp.Store(t)
		}
		// The last passed sample stays: while the primary writes nothing,
		// the next check renews its time.
		m.samples = append(m.samples[:0], m.samples[passed:]...)
	}
	return nil
}

// Run checks every CheckInterval until ctx ends, logging when the replica
// starts or stops being read.
func (m *Monitor) Run(ctx context.Context) {
	ticker := time.NewTicker(m.cfg.CheckInterval)
	defer ticker.Stop()
	fresh := m.Fresh()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := m.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		if now := m.Fresh(); now != fresh {
			fresh = now
			if fresh {
				m.logger.InfoContext(ctx, "reading the replica again: it is within --max-replica-lag", "lag", m.Lag(), "max_lag", m.cfg.MaxLag)
			} else {
				m.logger.WarnContext(ctx, "not reading the replica: it is further behind than --max-replica-lag, or does not answer; reading the primary",
					"lag", m.Lag(), "max_lag", m.cfg.MaxLag, "error", err)
			}
		}
	}
}

// Lag returns how far the replica may be behind the primary: the time
// since the latest moment up to which it is known to hold every commit.
// It is a very large duration when that is not known.
func (m *Monitor) Lag() time.Duration {
	c := m.caughtUp.Load()
	if c == 0 || !m.standbyOK.Load() {
		return time.Duration(1<<63 - 1)
	}
	return max(time.Since(m.start)-time.Duration(c-1), 0)
}

// Fresh reports whether the replica may be read now: it answers, is a
// replica, and is within MaxLag of the primary.
func (m *Monitor) Fresh() bool { return m.Lag() <= m.cfg.MaxLag }

// Register exports the replica's measured lag and whether it is read.
func (m *Monitor) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "featurestore", Subsystem: "replica", Name: "lag_seconds",
			Help: "How far the read replica may be behind the primary, as last measured; -1 while unknown (the replica does not answer or is not a replica).",
		}, func() float64 {
			if l := m.Lag(); l < time.Duration(1<<63-1) {
				return l.Seconds()
			}
			return -1
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "featurestore", Subsystem: "replica", Name: "in_use",
			Help: "1 while reads that may lag go to the read replica, 0 while they go to the primary.",
		}, func() float64 {
			if m.Fresh() {
				return 1
			}
			return 0
		}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("replica: register metrics: %w", err)
		}
	}
	return nil
}
