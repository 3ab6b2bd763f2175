package refresh

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
)

// Runner runs compute jobs; *compute.Engine implements it. Run must return
// store.ErrShopLocked when another run holds the shop.
type Runner interface {
	Run(ctx context.Context, req compute.Request, progress func(compute.Progress)) (compute.Summary, error)
}

var _ Runner = (*compute.Engine)(nil)

// Scheduler runs the refreshes that fall due. The zero value is not usable;
// call New.
type Scheduler struct {
	pool   *pgxpool.Pool
	runner Runner
	logger *slog.Logger
	// interval is the time between the end of one pass and the next.
	interval time.Duration
	// fullInterval is the longest a shop goes without a FULL run; zero
	// leaves FULL runs to operators.
	fullInterval time.Duration
	// now is the clock; tests replace it.
	now func() time.Time
}

// New returns a scheduler that looks for due shops every interval and
// runs a FULL run of a shop whose last one started fullInterval ago or more
// (never, when fullInterval is zero).
func New(pool *pgxpool.Pool, runner Runner, logger *slog.Logger, interval, fullInterval time.Duration) *Scheduler {
	return &Scheduler{pool: pool, runner: runner, logger: logger, interval: interval, fullInterval: fullInterval, now: time.Now}
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
// starts interval after the previous one ended, so passes never overlap.
func (s *Scheduler) Run(ctx context.Context) {
	s.logger.InfoContext(ctx, "scheduled refresh on", "interval", s.interval, "full_interval", s.fullInterval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		s.Pass(ctx)
		timer.Reset(s.interval)
	}
}

// Pass refreshes every due shop, one after another (each run computes on
// the engine's workers), and returns what it did. A shop is due for FULL
// when its last successful FULL run of all customers started fullInterval
// ago or more, or it has none; otherwise for INCREMENTAL when its change log
// holds changes. Failures are logged and left to the next pass: a failed
// run consumes no change, so the shop stays due.
func (s *Scheduler) Pass(ctx context.Context) []Outcome {
	states, err := store.ShopStates(ctx, s.pool)
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
	if s.fullInterval > 0 && (st.LastFull.IsZero() || s.now().Sub(st.LastFull) >= s.fullInterval) {
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
