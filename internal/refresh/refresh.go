package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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

// Schedule is what the scheduler reads and claims of the database;
// *store.Store implements it.
type Schedule interface {
	// ShopStates must return the state of every shop that has pending
	// changes or has ever had a run, from what Postgres holds, so that a
	// restarted server continues the schedule.
	ShopStates(ctx context.Context) ([]store.ShopState, error)
	// ClaimRefresh must claim the shop's refresh for claimant, for lease,
	// across every process sharing the database, when no live claim holds
	// it and due says it is due with its state read under the claim; it
	// must return nil and no error when the shop is held or not due.
	ClaimRefresh(ctx context.Context, shopID, claimant string, lease time.Duration, due func(store.ShopState) bool) (*store.RefreshClaim, error)
}

var _ Schedule = (*store.Store)(nil)

// Config is a Scheduler's settings.
type Config struct {
	// Interval is the time between the end of one pass and the next.
	Interval time.Duration
	// FullInterval is the longest a shop goes without a FULL run; zero
	// leaves FULL runs to operators.
	FullInterval time.Duration
	// Claimant names this process in its claims (refresh_claims.claimed_by);
	// empty takes the host name and the process id.
	Claimant string
	// Lease is how long a claim lasts unless renewed; a run renews its
	// claim every third of it, so only a claim whose process died lapses.
	// Zero takes DefaultLease.
	Lease time.Duration
}

// DefaultLease is a claim's lease when Config.Lease is zero: the longest a
// due shop waits after the process that claimed it died.
const DefaultLease = time.Minute

// withDefaults fills the zero settings.
func (c Config) withDefaults() Config {
	if c.Claimant == "" {
		host, _ := os.Hostname()
		c.Claimant = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	return c
}

// Validate names the first bad setting.
func (c Config) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("refresh: Interval is %s; it must be positive", c.Interval)
	case c.FullInterval < 0:
		return fmt.Errorf("refresh: FullInterval is %s; it must not be negative (0 leaves FULL runs to operators)", c.FullInterval)
	case c.Lease < 0:
		return fmt.Errorf("refresh: Lease is %s; it must not be negative (0 takes the default, %s)", c.Lease, DefaultLease)
	}
	return nil
}

// Scheduler runs the refreshes that fall due. The zero value is not usable;
// call New.
type Scheduler struct {
	states Schedule
	runner Runner
	logger *slog.Logger
	cfg    Config
	// now is the clock.
	now func() time.Time
}

// New returns a scheduler that looks for due shops every cfg.Interval,
// reading their state from states and claiming each there before it runs
// it, and has runner run a FULL run of a shop whose last one started
// cfg.FullInterval ago or more (never, when that is zero).
func New(states Schedule, runner Runner, cfg Config, logger *slog.Logger) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Scheduler{states: states, runner: runner, logger: logger, cfg: cfg.withDefaults(), now: time.Now}, nil
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
// INCREMENTAL when its change log holds changes. Failures are logged and
// left to the next pass: a failed run consumes no change, so the shop
// stays due.
//
// Every process serving the database may run passes at the same time:
// each claims a due shop before it runs it (store.ClaimRefresh), which
// reads the shop's state again under the claim, so a shop that another
// process holds, or has just refreshed, is passed over, and the due shops
// spread over the processes with each run once. The outcomes name only
// the shops this pass claimed.
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
		if _, due := s.due(st); !due {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		claim, err := s.states.ClaimRefresh(ctx, st.ShopID, s.cfg.Claimant, s.cfg.Lease, func(st store.ShopState) bool {
			_, due := s.due(st)
			return due
		})
		if err != nil {
			if ctx.Err() == nil {
				s.logger.WarnContext(ctx, "scheduled refresh: cannot claim the shop; the next pass retries", "shop_id", st.ShopID, "error", err)
			}
			continue
		}
		if claim == nil {
			continue // another process holds it, or has refreshed it
		}
		mode, _ := s.due(claim.State)
		o := Outcome{ShopID: st.ShopID, Mode: mode}
		o.Summary, o.Err = s.runClaimed(ctx, claim, mode)
		s.log(ctx, o)
		outcomes = append(outcomes, o)
	}
	return outcomes
}

// runClaimed runs the claimed shop in mode, renewing the claim while the
// run goes on, and releases the claim once the run has recorded its end.
func (s *Scheduler) runClaimed(ctx context.Context, claim *store.RefreshClaim, mode compute.Mode) (compute.Summary, error) {
	runCtx, stop := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		ticker := time.NewTicker(s.cfg.Lease / 3)
		defer ticker.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-ticker.C:
			}
			if err := claim.Extend(runCtx, s.cfg.Lease); err != nil && runCtx.Err() == nil {
				s.logger.WarnContext(runCtx, "scheduled refresh: cannot renew the claim", "shop_id", claim.State.ShopID, "error", err)
			}
		}
	}()
	summary, err := s.runner.Run(runCtx, compute.Request{ShopID: claim.State.ShopID, Mode: mode}, nil)
	stop()
	<-renewed
	// Released even when ctx has ended, so that another process need not
	// wait for the lease to take the shop.
	releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if relErr := claim.Release(releaseCtx); relErr != nil {
		s.logger.WarnContext(ctx, "scheduled refresh: cannot release the claim; it lapses with its lease", "shop_id", claim.State.ShopID, "error", relErr)
	}
	return summary, err
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
