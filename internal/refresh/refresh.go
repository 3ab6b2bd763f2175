package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
)

// Runner runs compute jobs; *compute.Engine implements it. Run must return
// store.ErrShopLocked when another run holds the shop.
type Runner interface {
	Run(ctx context.Context, req compute.Request, progress func(compute.Progress)) (compute.Summary, error)
}

var _ Runner = (*compute.Engine)(nil)

// StateReader is what the schedule reads of the database; *store.Store
// implements it.
type StateReader interface {
	// ShopStates must return the state of every shop that has pending
	// changes or has ever had a run, from what Postgres holds, so that a
	// restarted server continues the schedule.
	ShopStates(ctx context.Context) ([]store.ShopState, error)
}

var _ StateReader = (*store.Store)(nil)

// Config is a Scheduler's settings.
type Config struct {
	// Interval is the time between the end of one pass and the next.
	Interval time.Duration
	// FullInterval is the longest a shop goes without a FULL run; zero
	// leaves FULL runs to operators.
	FullInterval time.Duration
}

// Validate names the first bad setting.
func (c Config) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("refresh: Interval is %s; it must be positive", c.Interval)
	case c.FullInterval < 0:
		return fmt.Errorf("refresh: FullInterval is %s; it must not be negative (0 leaves FULL runs to operators)", c.FullInterval)
	}
	return nil
}

// Scheduler runs the refreshes that fall due. The zero value is not usable;
// call New.
type Scheduler struct {
	states StateReader
	runner Runner
	logger *slog.Logger
	cfg    Config
	// now is the clock.
	now func() time.Time
}

// New returns a scheduler that looks for due shops every cfg.Interval,
// reading their state from states, and has runner run a FULL run of a shop
// whose last one started cfg.FullInterval ago or more (never, when that is
// zero).
func New(states StateReader, runner Runner, cfg Config, logger *slog.Logger) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Scheduler{states: states, runner: runner, logger: logger, cfg: cfg, now: time.Now}, nil
}

// Outcome is what a pass did for one shop.
type Outcome struct {
	ShopID string
	Mode   compute.Mode
	// Summary is the run's totals when it succeeded.
	Summary compute.Summary
	// Err is why the run failed; store.ErrShopLocked when another run held
	// the shop, which is not a failure: that run covers it.
	Err error
}

// Run makes passes until ctx ends, the first at once, so that a restarted
// server catches up with whatever fell due while none was running. A pass
// starts Config.Interval after the previous one ended, so passes never
// overlap.
func (s *Scheduler) Run(ctx context.Context) {
	s.logger.InfoContext(ctx, "scheduled refresh on", "interval", s.cfg.Interval, "full_interval", s.cfg.FullInterval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		s.Pass(ctx)
		timer.Reset(s.cfg.Interval)
	}
}

// Pass refreshes every due shop, one after another (each run computes on
// the engine's workers), and returns what it did. A shop is due for FULL
// when its last successful FULL run of all customers started
// Config.FullInterval ago or more, or it has none; otherwise for
// INCREMENTAL when its change log holds changes. Failures are logged and left to the next pass: a failed
// run consumes no change, so the shop stays due.
func (s *Scheduler) Pass(ctx context.Context) []Outcome {
	states, err := s.states.ShopStates(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.WarnContext(ctx, "scheduled refresh: cannot read the shops' state", "error", err)
		}
		return nil
	}
	var outcomes []Outcome
	for _, st := range states {
		mode, due := s.due(st)
		if !due {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		o := Outcome{ShopID: st.ShopID, Mode: mode}
		o.Summary, o.Err = s.runner.Run(ctx, compute.Request{ShopID: st.ShopID, Mode: mode}, nil)
		s.log(ctx, o)
		outcomes = append(outcomes, o)
	}
	return outcomes
}

// due says whether a shop in state st needs a run, and of which mode.
func (s *Scheduler) due(st store.ShopState) (compute.Mode, bool) {
	if s.cfg.FullInterval > 0 && (st.LastFull.IsZero() || s.now().Sub(st.LastFull) >= s.cfg.FullInterval) {
		return compute.Full, true
	}
	return compute.Incremental, st.Pending
}

func (s *Scheduler) log(ctx context.Context, o Outcome) {
	switch {
	case o.Err == nil:
		s.logger.InfoContext(ctx, "scheduled refresh finished", "shop_id", o.ShopID, "mode", o.Summary.Mode,
			"pairs_written", o.Summary.PairsWritten, "pairs_deleted", o.Summary.PairsDeleted, "duration", o.Summary.Duration)
	case errors.Is(o.Err, store.ErrShopLocked):
		s.logger.InfoContext(ctx, "scheduled refresh skipped: another run holds the shop", "shop_id", o.ShopID, "mode", o.Mode)
	case ctx.Err() != nil:
		s.logger.InfoContext(ctx, "scheduled refresh stopped", "shop_id", o.ShopID, "mode", o.Mode)
	default:
		s.logger.WarnContext(ctx, "scheduled refresh failed; the next pass retries", "shop_id", o.ShopID, "mode", o.Mode, "error", o.Err)
	}
}
