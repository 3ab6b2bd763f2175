package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
)

// Mode selects what a run recomputes.
type Mode int

const (
	// Full recomputes every pair in scope and removes rows of pairs that no
	// longer exist.
	Full Mode = iota + 1
	// Incremental recomputes only pairs whose inputs changed.
	Incremental
)

func (m Mode) String() string {
	switch m {
	case Full:
		return "full"
	case Incremental:
		return "incremental"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ErrPoolTooSmall means the database pool cannot give a run the
// connections it needs to make progress.
var ErrPoolTooSmall = errors.New("the database pool is too small for a compute run")

// ErrUnsupported means the request asks for something this server cannot do.
var ErrUnsupported = errors.New("not supported")

// ErrNoInputs means a run names a shop without any interaction or order, so
// there is nothing to compute: most likely the shop id is mistyped. Errors
// that wrap it are *NoInputsError.
var ErrNoInputs = errors.New("no interactions or orders for the shop")

// NoInputsError names the shop of ErrNoInputs.
type NoInputsError struct{ ShopID string }

func (e *NoInputsError) Error() string {
	return fmt.Sprintf("no interactions or orders for shop %q: there is nothing to compute (is the shop id right?)", e.ShopID)
}

// Is makes errors.Is(err, ErrNoInputs) hold.
func (e *NoInputsError) Is(target error) bool { return target == ErrNoInputs }

// maxFutureAsOf is how far past the server's clock an as_of may lie: enough
// for clock skew between a client and the server, not enough to compute
// features for a future nobody has seen.
const maxFutureAsOf = 5 * time.Minute

// Request is one run's parameters.
type Request struct {
	ShopID string
	// AsOf is the computation instant; zero means the server's clock.
	AsOf        time.Time
	CustomerIDs []string
	Mode        Mode
	// AllowPastAsOf lets a run's AsOf be older than the as_of of the shop's
	// last successful run. Without it such a run is refused
	// (store.ErrPastAsOf): it would move the shop's stored features back in
	// time, which point-in-time training data does not need (ComputeRows
	// computes a past instant without storing it).
	AllowPastAsOf bool
}

// Validate checks the request against the server's clock now.
func (r *Request) Validate(now time.Time) error {
	if err := validateScope(r.ShopID, r.AsOf, r.CustomerIDs, now); err != nil {
		return err
	}
	if r.Mode != Full && r.Mode != Incremental {
		return invalid.Field("mode", "unknown mode %d; use FULL or INCREMENTAL", int(r.Mode))
	}
	return nil
}

// validateScope checks what every computation names: a shop, an as_of that
// is not in the future of the server's clock now, and customer ids.
func validateScope(shopID string, asOf time.Time, customerIDs []string, now time.Time) error {
	if err := invalid.ID("shop_id", shopID); err != nil {
		return err
	}
	switch {
	case asOf.After(now.Add(maxFutureAsOf)):
		return invalid.Field("as_of", "%s is in the future; it may be at most %s past the server's clock (%s)",
			asOf.Format(time.RFC3339Nano), maxFutureAsOf, now.UTC().Format(time.RFC3339))
	}
	for i, c := range customerIDs {
		if err := invalid.ID(fmt.Sprintf("customer_ids[%d]", i), c); err != nil {
			return err
		}
	}
	return nil
}

// Progress is a snapshot of a run in flight.
type Progress struct {
	EventsRead     int64
	OrderLinesRead int64
	PairsComputed  int64
	PairsWritten   int64
	Elapsed        time.Duration
}

// Summary is a finished run's totals.
type Summary struct {
	ShopID         string
	Mode           Mode
	AsOf           time.Time
	EventsRead     int64
	OrderLinesRead int64
	PairsWritten   int64
	PairsDeleted   int64
	StartedAt      time.Time
	Duration       time.Duration
}

// Sink learns of every batch a run commits and every pair it removes. The
// online cache implements it to write through, so that once a run ends no
// reader sees a vector older than the table. A Sink's error does not fail
// the run: the table is the source of truth, and the Sink must make its
// own copy safe (the cache stops trusting what it failed to update).
type Sink interface {
	Written(ctx context.Context, shopID string, rows []store.FeatureRow, computedAt, asOf time.Time) error
	Deleted(ctx context.Context, shopID string, keys []store.PairKey, at time.Time) error
}

// Engine runs computations against one database.
type Engine struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	// Sink, if not nil, receives the run's writes after each commit.
	Sink Sink
	// BatchSize is the number of rows per upsert transaction.
	BatchSize int
	// Writers is the number of connections that write batches at once.
	Writers int
	// Workers is the number of parts of a run (ranges of customers, or
	// chunks of changed pairs) scanned and computed at once, each on its own
	// pair of Postgres connections, so that Postgres reading and Go
	// computing overlap. It is capped by what the pool can hold.
	Workers int
	// ProgressInterval is how often a run reports progress.
	ProgressInterval time.Duration
	// now is the clock; tests replace it.
	now func() time.Time

	slotsOnce sync.Once
	slots     chan struct{}
}

// acquireRunSlot waits, holding no connection, until the engine runs few
// enough runs at once that each can have the connections it needs to
// progress; concurrent runs on a small pool would otherwise each hold some
// and wait for ever for the rest. A few connections stay free for reads.
func (e *Engine) acquireRunSlot(ctx context.Context) (func(), error) {
	maxConns := int(e.pool.Config().MaxConns)
	if maxConns < minRunConns {
		return nil, fmt.Errorf("%w: a run needs %d connections, the pool has %d (pool_max_conns in the database url)",
			ErrPoolTooSmall, minRunConns, maxConns)
	}
	e.slotsOnce.Do(func() {
		const readReserve = 2
		perRun := 1 + e.writers() + 2*e.workers()
		e.slots = make(chan struct{}, max(1, (maxConns-readReserve)/perRun))
	})
	select {
	case e.slots <- struct{}{}:
		return func() { <-e.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// NewEngine returns an Engine with default batch size, writers, workers
// (one per CPU) and progress interval.
func NewEngine(pool *pgxpool.Pool, logger *slog.Logger) *Engine {
	return &Engine{pool: pool, logger: logger, BatchSize: 5000, Writers: 2, Workers: runtime.NumCPU(),
		ProgressInterval: 500 * time.Millisecond, now: time.Now}
}

// counters are a run's live counts, written by the scan and the writer and
// read by the progress reporter.
type counters struct {
	events, lines, computed, written atomic.Int64
}

func (c *counters) progress(elapsed time.Duration) Progress {
	return Progress{
		EventsRead: c.events.Load(), OrderLinesRead: c.lines.Load(),
		PairsComputed: c.computed.Load(), PairsWritten: c.written.Load(), Elapsed: elapsed,
	}
}

// Run computes and stores the request's features. progress, if not nil, is
// called from Run's own goroutine every ProgressInterval while the run goes
// on. Run returns store.ErrShopLocked when another run holds the shop, a
// *store.PastAsOfError when req.AsOf is older than the as_of of the shop's
// last successful run and req.AllowPastAsOf is not set, a *NoInputsError
// when the shop has no interaction and no order, an *invalid.Error
// for a bad request, and the context's error when cancelled;
// a cancelled run leaves only whole batches behind.
//
// An INCREMENTAL run recomputes the pairs named by the shop's change log and
// leaves every other row as it is. When the shop has no successful FULL run
// of all its customers with the current features version, there is no base
// to build on (the rows may predate the change log, or hold older formulas),
// and the run is done as FULL; the summary says so.
func (e *Engine) Run(ctx context.Context, req Request, progress func(Progress)) (Summary, error) {
	if req.Mode == 0 {
		req.Mode = Full
	}
	now := e.now()
	if err := req.Validate(now); err != nil {
		return Summary{}, err
	}
	// A run at the server's clock is refused only when the last run's as_of
	// is further ahead than clocks may disagree (an as_of set a few minutes
	// ahead, another replica's clock): that is no accident of the caller.
	slack := time.Duration(0)
	if req.AsOf.IsZero() {
		req.AsOf, slack = now, maxFutureAsOf
	}
	// Postgres keeps microseconds: the as_of that rows carry must be the one
	// the scan used.
	req.AsOf = req.AsOf.UTC().Truncate(time.Microsecond)
	var refuseAfter time.Time
	if !req.AllowPastAsOf {
		refuseAfter = req.AsOf.Add(slack)
	}
	// Checked before the run is recorded: a shop in feature_runs is one the
	// scheduled refresh keeps running.
	if ok, err := store.ShopHasInputs(ctx, e.pool, req.ShopID); err != nil {
		return Summary{}, err
	} else if !ok {
		return Summary{}, &NoInputsError{ShopID: req.ShopID}
	}
	if req.Mode == Incremental {
		_, ok, err := store.LastFullRun(ctx, e.pool, req.ShopID)
		if err != nil {
			return Summary{}, err
		}
		if !ok {
			e.logger.InfoContext(ctx, "incremental run done as full: the shop has no full run to build on",
				"shop_id", req.ShopID, "features_version", features.Version)
			req.Mode = Full
		}
	}

	release, err := e.acquireRunSlot(ctx)
	if err != nil {
		return Summary{}, err
	}
	defer release()
	run, err := store.BeginRun(ctx, e.pool, store.RunInfo{ShopID: req.ShopID, Mode: req.Mode.String(), AsOf: req.AsOf, CustomerIDs: req.CustomerIDs,
		RefuseAfter: refuseAfter})
	if err != nil {
		return Summary{}, err
	}
	start := time.Now()
	var c counters
	sum, runErr := e.run(ctx, run, req, &c, start, progress)
	finishErr := run.Finish(store.RunTotals{
		EventsRead: sum.EventsRead, OrderLinesRead: sum.OrderLinesRead,
		PairsWritten: sum.PairsWritten, PairsDeleted: sum.PairsDeleted,
	}, runErr)
	if runErr != nil {
		e.logger.WarnContext(ctx, "compute run failed", "shop_id", req.ShopID, "mode", req.Mode, "error", runErr,
			"pairs_written", c.written.Load(), "elapsed", time.Since(start))
		return Summary{}, runErr
	}
	if finishErr != nil {
		return Summary{}, finishErr
	}
	// Reads of a shop the statistics do not know yet are planned as if it
	// were tiny; correcting that is worth a little of the run's time.
	if analyzed, err := store.RefreshStatistics(ctx, e.pool, req.ShopID, sum.PairsWritten); err != nil {
		e.logger.WarnContext(ctx, "refresh statistics after the run", "shop_id", req.ShopID, "error", err)
	} else if analyzed {
		e.logger.InfoContext(ctx, "analyzed interaction_features: its statistics did not know the shop's rows",
			"shop_id", req.ShopID, "pairs_written", sum.PairsWritten)
	}
	e.logger.InfoContext(ctx, "compute run finished", "shop_id", req.ShopID, "mode", req.Mode, "as_of", req.AsOf,
		"events", sum.EventsRead, "pairs_written", sum.PairsWritten, "pairs_deleted", sum.PairsDeleted, "duration", sum.Duration)
	return sum, nil
}

// run claims the shop's change log, computes and writes the run's pairs,
// and removes the rows of pairs that no longer exist. Finish, after it,
// consumes the claimed changes if it succeeded.
func (e *Engine) run(ctx context.Context, run *store.Run, req Request, c *counters, start time.Time, progress func(Progress)) (Summary, error) {
	sum := Summary{ShopID: req.ShopID, Mode: req.Mode, AsOf: req.AsOf, StartedAt: run.StartedAt()}
	// The claim comes before any scan, so every claimed change is read.
	if err := run.ClaimChanges(ctx); err != nil {
		return sum, err
	}
	var parts []store.ScanRequest
	var err error
	if req.Mode == Full {
		parts, err = e.fullParts(ctx, req)
	} else {
		parts, err = e.incrementalParts(ctx, run, req)
	}
	if err != nil {
		return sum, err
	}
	vanished, err := e.computeParts(ctx, run, req, parts, c, start, progress)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return sum, ctxErr
		}
		return sum, err
	}
	var deleted []store.PairKey
	if req.Mode == Full {
		deleted, err = run.DeleteStale(ctx, req.CustomerIDs)
	} else {
		deleted, err = run.DeletePairs(ctx, vanished)
	}
	if err != nil {
		return sum, err
	}
	sum.PairsDeleted = int64(len(deleted))
	// Every removed row was written before the run started, so the run's
	// start marks the removal as newer than any copy of it.
	if e.Sink != nil && len(deleted) > 0 {
		if err := e.Sink.Deleted(ctx, req.ShopID, deleted, run.StartedAt()); err != nil {
			e.logger.WarnContext(ctx, "cache removal failed", "shop_id", req.ShopID, "pairs", len(deleted), "error", err)
		}
	}
	sum.EventsRead, sum.OrderLinesRead, sum.PairsWritten = c.events.Load(), c.lines.Load(), c.written.Load()
	sum.Duration = time.Since(start)
	return sum, nil
}
