package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/featurestore/featurestore/internal/cache"
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
// the run: the table is the source of truth. Written and Deleted must
// return nil only once no reader can be served the pairs' older vectors:
// written through, or the failure recorded where every reader sees it (the
// cache's durable marks). An error says the Sink could not: the run then
// leaves its intent unsettled, and once it ends the whole shop's cache is
// distrusted and repaired.
type Sink interface {
	Written(ctx context.Context, shopID string, rows []store.FeatureRow, computedAt, asOf time.Time) error
	Deleted(ctx context.Context, shopID string, keys []store.PairKey, at time.Time) error
}

var _ Sink = (*cache.Cache)(nil)

// Store is what runs need of the database; *store.Store implements it.
type Store interface {
	// MaxConns must return the most connections the pool opens at once:
	// the engine sizes its runs to it.
	MaxConns() int
	// LastFullRun must return when the shop's latest successful FULL run of
	// every customer with the current features version started, and false
	// when there is none.
	LastFullRun(ctx context.Context, shopID string) (time.Time, bool, error)
	// BeginRun must take the shop's lock, across every process sharing the
	// database, and record the run, or return store.ErrShopLocked when
	// another run holds the lock, and a *store.PastAsOfError, recording
	// nothing, when info.RefuseAfter is set and the shop's last successful
	// run has a later as_of (checked under the lock).
	BeginRun(ctx context.Context, info store.RunInfo) (*store.Run, error)
	// ShopHasInputs must report whether the shop has any interaction or
	// order: a run of a shop without them is refused before it is
	// recorded.
	ShopHasInputs(ctx context.Context, shopID string) (bool, error)
	// CheckShopKnown must return an error wrapping store.ErrUnknownShop
	// when the shop has no stored features, no interactions and no orders,
	// and nil when it has any: ComputeRows asks when it found no pair.
	CheckShopKnown(ctx context.Context, shopID string) error
	// RefreshStatistics must bring the planner's statistics of
	// interaction_features up to date when a run that wrote written rows
	// of the shop left them far off, and report whether it did.
	RefreshStatistics(ctx context.Context, shopID string, written int64) (bool, error)
	// CustomerRanges must split the shop's customers into at most n
	// ranges, in byte order, that together hold every customer id.
	CustomerRanges(ctx context.Context, shopID string, n int) ([]store.CustomerRange, error)
	// ScanPairs must call fn once for every pair that req selects, in
	// (customer_id, product_id) byte order, with the pair's inputs at
	// req.AsOf, holding at most two connections at once, and stop with
	// fn's error as soon as fn fails.
	ScanPairs(ctx context.Context, req store.ScanRequest, fn func(*store.Pair) error) error
	// ExportRows must call fn once for every stored row that req selects,
	// in (customer_id, product_id) byte order, reading one snapshot.
	ExportRows(ctx context.Context, req store.ExportRequest, fn func(*store.StoredRow) error) error
}

var _ Store = (*store.Store)(nil)

// Config is an Engine's settings.
type Config struct {
	// Sink, if not nil, receives each run's writes after each commit.
	Sink Sink
	// BatchSize is the number of rows per batch: an upsert transaction, or
	// one COPY of a FULL run's replacement of a shop.
	BatchSize int
	// Writers is the number of connections that upsert batches at once. A
	// FULL run of a whole shop writes on one: its rows go in one
	// transaction.
	Writers int
	// Workers is the number of parts of a run (ranges of customers, or
	// chunks of changed pairs) scanned and computed at once, each on its own
	// pair of Postgres connections, so that Postgres reading and Go
	// computing overlap. It is capped by what the pool can hold.
	Workers int
	// ProgressInterval is how often a run reports progress.
	ProgressInterval time.Duration
}

// DefaultConfig returns the default settings: batches of 5,000 rows, two
// writers, one worker per CPU and progress every half second, without a
// Sink.
func DefaultConfig() Config {
	return Config{BatchSize: 5000, Writers: 2, Workers: runtime.NumCPU(), ProgressInterval: 500 * time.Millisecond}
}

// Validate names the first bad setting.
func (c Config) Validate() error {
	switch {
	case c.BatchSize < 1:
		return fmt.Errorf("compute: BatchSize is %d; a batch holds at least 1 row", c.BatchSize)
	case c.Writers < 1:
		return fmt.Errorf("compute: Writers is %d; a run needs at least 1 writer", c.Writers)
	case c.Workers < 1:
		return fmt.Errorf("compute: Workers is %d; a run needs at least 1 worker", c.Workers)
	case c.ProgressInterval <= 0:
		return fmt.Errorf("compute: ProgressInterval is %s; it must be positive", c.ProgressInterval)
	}
	return nil
}

// Engine runs computations against one database.
type Engine struct {
	store  Store
	logger *slog.Logger
	cfg    Config
	// now is the clock.
	now func() time.Time
	// slots holds one token per run in progress; its capacity is the most
	// runs the pool can serve at once (see acquireRunSlot).
	slots chan struct{}
}

// NewEngine returns an Engine running against st with the settings of cfg.
func NewEngine(st Store, cfg Config, logger *slog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{store: st, logger: logger, cfg: cfg, now: time.Now}
	const readReserve = 2
	perRun := 1 + e.writers() + 2*e.workers()
	e.slots = make(chan struct{}, max(1, (st.MaxConns()-readReserve)/perRun))
	return e, nil
}

// acquireRunSlot waits, holding no connection, until the engine runs few
// enough runs at once that each can have the connections it needs to
// progress; concurrent runs on a small pool would otherwise each hold some
// and wait for ever for the rest. A few connections stay free for reads.
func (e *Engine) acquireRunSlot(ctx context.Context) (func(), error) {
	if maxConns := e.store.MaxConns(); maxConns < minRunConns {
		return nil, fmt.Errorf("%w: a run needs %d connections, the pool has %d (pool_max_conns in the database url)",
			ErrPoolTooSmall, minRunConns, maxConns)
	}
	select {
	case e.slots <- struct{}{}:
		return func() { <-e.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// counters are a run's live counts, written by the scan and the writer and
// read by the progress reporter.
type counters struct {
	events, lines, computed, written atomic.Int64
	// changed is set before any write of the table that may commit.
	changed atomic.Bool
	// unsettled is set when a write of the table may have committed
	// without the Sink having made the cache safe for it.
	unsettled atomic.Bool
}

func (c *counters) progress(elapsed time.Duration) Progress {
	return Progress{
		EventsRead: c.events.Load(), OrderLinesRead: c.lines.Load(),
		PairsComputed: c.computed.Load(), PairsWritten: c.written.Load(), Elapsed: elapsed,
	}
}

// Run computes and stores the request's features. progress, if not nil, is
// called from Run's own goroutine every ProgressInterval while the run goes
// on; a caller that cannot deliver progress any more stops the run by
// cancelling ctx. Run returns store.ErrShopLocked when another run holds the
// shop, a *store.PastAsOfError when req.AsOf is older than the as_of of the
// shop's last successful run and req.AllowPastAsOf is not set, a
// *NoInputsError when the shop has no interaction and no order, an
// *invalid.Error for a bad request, and the context's error when cancelled.
// A cancelled FULL run of the whole shop leaves the shop's rows as they
// were; another cancelled run leaves only whole batches behind.
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
	if ok, err := e.store.ShopHasInputs(ctx, req.ShopID); err != nil {
		return Summary{}, err
	} else if !ok {
		return Summary{}, &NoInputsError{ShopID: req.ShopID}
	}
	if req.Mode == Incremental {
		_, ok, err := e.store.LastFullRun(ctx, req.ShopID)
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
	run, err := e.store.BeginRun(ctx, store.RunInfo{ShopID: req.ShopID, Mode: req.Mode.String(), AsOf: req.AsOf, CustomerIDs: req.CustomerIDs,
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
		// Without a Sink nothing told the cache: the shop's cached hashes,
		// if any process has them, are repaired once a run that changed
		// rows ends.
		CacheSettled: !c.unsettled.Load() && (e.cfg.Sink != nil || !c.changed.Load()),
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
	if analyzed, err := e.store.RefreshStatistics(ctx, req.ShopID, sum.PairsWritten); err != nil {
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
//
// A FULL run of the whole shop writes through a store.Replace: the shop's
// new rows replace the previous ones in one transaction, and the Sink
// learns of them once it committed (afterReplace). Other runs
// upsert their rows in batches, each committed and written through on its
// own, then remove the vanished pairs' rows.
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
	// The writers take their connections before any scan starts: a scan
	// holding connections while its writers wait for one could wait for
	// ever on a busy pool.
	var (
		ws      []batchWriter
		replace *store.Replace
	)
	if req.Mode == Full && len(req.CustomerIDs) == 0 {
		if replace, err = run.BeginReplace(ctx); err != nil {
			return sum, err
		}
		defer replace.Close()
		ws = append(ws, replace)
	} else {
		for range e.writers() {
			w, err := run.NewWriter(ctx)
			if err != nil {
				return sum, err
			}
			defer w.Close()
			ws = append(ws, w)
		}
	}
	vanished, err := e.computeParts(ctx, ws, replace == nil, req, parts, c, start, progress)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return sum, ctxErr
		}
		return sum, err
	}
	if replace != nil {
		c.changed.Store(true)
		if err := replace.Commit(ctx); err != nil {
			// The replacement may have committed without its answer
			// arriving.
			c.unsettled.Store(true)
			return sum, err
		}
		sum.PairsDeleted = e.afterReplace(ctx, run, replace, req, c)
		sum.EventsRead, sum.OrderLinesRead, sum.PairsWritten = c.events.Load(), c.lines.Load(), c.written.Load()
		sum.Duration = time.Since(start)
		return sum, nil
	}
	var deleted []store.PairKey
	switch {
	case req.Mode == Full:
		deleted, err = run.DeleteStale(ctx, req.CustomerIDs)
	default:
		deleted, err = run.DeletePairs(ctx, vanished)
	}
	if err != nil {
		// The removal may have committed without its answer arriving.
		c.unsettled.Store(true)
		return sum, err
	}
	sum.PairsDeleted = int64(len(deleted))
	if len(deleted) > 0 {
		c.changed.Store(true)
	}
	// Every removed row was written before the run started, so the run's
	// start marks the removal as newer than any copy of it.
	if e.cfg.Sink != nil && len(deleted) > 0 {
		if err := e.cfg.Sink.Deleted(ctx, req.ShopID, deleted, run.StartedAt()); err != nil {
			c.unsettled.Store(true)
			e.logger.WarnContext(ctx, "cache removal failed and was not recorded", "shop_id", req.ShopID, "pairs", len(deleted), "error", err)
		}
	}
	sum.EventsRead, sum.OrderLinesRead, sum.PairsWritten = c.events.Load(), c.lines.Load(), c.written.Load()
	sum.Duration = time.Since(start)
	return sum, nil
}

// afterReplace goes through the shop's rows once a Replace committed them,
// beside the previous rows, and returns how many pairs no longer exist.
// With a Sink, it writes the new rows through, a batch at a time, and
// removes the vanished pairs: the cached customers' hashes get the new
// vectors, and none is dropped, so readers of cached customers do not all
// turn to Postgres at once. Until it is done, cached customers may be
// served the previous run's vectors; if the process dies meanwhile, the
// run's unsettled intent has the shop's cache repaired. The rows are the
// shop's already: a failure here fails no run, it leaves the cache
// unsettled and the count short.
func (e *Engine) afterReplace(ctx context.Context, run *store.Run, replace *store.Replace, req Request, c *counters) int64 {
	sink := e.cfg.Sink
	if sink == nil && replace.Removed() == 0 {
		// No previous row, so no pair vanished, and no cache to write
		// through: there is nothing to read back.
		return 0
	}
	var (
		vanished int64
		rows     []store.FeatureRow
		gone     []store.PairKey
		sinkErr  error
	)
	flush := func() {
		if len(rows) > 0 {
			sinkErr = errors.Join(sinkErr, sink.Written(ctx, req.ShopID, rows, replace.ComputedAt(), req.AsOf))
		}
		// Every removed row was written before the run started, so the
		// run's start marks the removal as newer than any copy of it.
		if len(gone) > 0 {
			sinkErr = errors.Join(sinkErr, sink.Deleted(ctx, req.ShopID, gone, run.StartedAt()))
		}
		rows, gone = rows[:0], gone[:0]
	}
	err := replace.Walk(ctx, sink != nil, func(key store.PairKey, row *store.StoredRow, isVanished bool) error {
		if isVanished {
			vanished++
		}
		if sink == nil {
			return nil
		}
		if isVanished {
			gone = append(gone, key)
		} else {
			rows = append(rows, store.FeatureRow{CustomerID: key.CustomerID, ProductID: key.ProductID, Vector: row.Vector})
		}
		if len(rows)+len(gone) >= e.cfg.BatchSize {
			flush()
		}
		return nil
	})
	if sink != nil {
		flush()
	}
	if err != nil || sinkErr != nil {
		if sink != nil {
			c.unsettled.Store(true)
		}
		e.logger.WarnContext(ctx, "reading the replaced rows back failed, or writing them through did and was not recorded",
			"shop_id", req.ShopID, "error", errors.Join(err, sinkErr))
	}
	return vanished
}
