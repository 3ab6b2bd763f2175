package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

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

// ErrUnsupported means the request asks for something this server cannot do.
var ErrUnsupported = errors.New("not supported")

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
}

// Validate checks the request against the server's clock now.
func (r *Request) Validate(now time.Time) error {
	switch {
	case r.ShopID == "":
		return invalid.Field("shop_id", "is required")
	case len(r.ShopID) > 255:
		return invalid.Field("shop_id", "is %d bytes long; at most 255 are allowed", len(r.ShopID))
	case r.AsOf.After(now.Add(maxFutureAsOf)):
		return invalid.Field("as_of", "%s is in the future; it may be at most %s past the server's clock (%s)",
			r.AsOf.Format(time.RFC3339Nano), maxFutureAsOf, now.UTC().Format(time.RFC3339))
	case r.Mode != Full && r.Mode != Incremental:
		return invalid.Field("mode", "unknown mode %d; use FULL or INCREMENTAL", int(r.Mode))
	}
	for i, c := range r.CustomerIDs {
		if c == "" || len(c) > 255 {
			return invalid.Field(fmt.Sprintf("customer_ids[%d]", i), "must be 1 to 255 bytes long")
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

// Engine runs computations against one database.
type Engine struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	// BatchSize is the number of rows per upsert transaction.
	BatchSize int
	// Writers is the number of connections that write batches at once.
	Writers int
	// ProgressInterval is how often a run reports progress.
	ProgressInterval time.Duration
	// now is the clock; tests replace it.
	now func() time.Time
}

// NewEngine returns an Engine with default batch size and progress interval.
func NewEngine(pool *pgxpool.Pool, logger *slog.Logger) *Engine {
	return &Engine{pool: pool, logger: logger, BatchSize: 5000, Writers: 2, ProgressInterval: 500 * time.Millisecond, now: time.Now}
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
// on. Run returns store.ErrShopLocked when another run holds the shop, an
// *invalid.Error for a bad request, and the context's error when cancelled;
// a cancelled run leaves only whole batches behind.
func (e *Engine) Run(ctx context.Context, req Request, progress func(Progress)) (Summary, error) {
	if req.Mode == 0 {
		req.Mode = Full
	}
	now := e.now()
	if err := req.Validate(now); err != nil {
		return Summary{}, err
	}
	if req.Mode == Incremental {
		return Summary{}, fmt.Errorf("incremental mode: %w", ErrUnsupported)
	}
	if req.AsOf.IsZero() {
		req.AsOf = now
	}
	// Postgres keeps microseconds: the as_of that rows carry must be the one
	// the scan used.
	req.AsOf = req.AsOf.UTC().Truncate(time.Microsecond)

	run, err := store.BeginRun(ctx, e.pool, store.RunInfo{ShopID: req.ShopID, Mode: req.Mode.String(), AsOf: req.AsOf})
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
		e.logger.WarnContext(ctx, "compute run failed", "shop_id", req.ShopID, "error", runErr,
			"pairs_written", c.written.Load(), "elapsed", time.Since(start))
		return Summary{}, runErr
	}
	if finishErr != nil {
		return Summary{}, finishErr
	}
	e.logger.InfoContext(ctx, "compute run finished", "shop_id", req.ShopID, "mode", req.Mode, "as_of", req.AsOf,
		"events", sum.EventsRead, "pairs_written", sum.PairsWritten, "pairs_deleted", sum.PairsDeleted, "duration", sum.Duration)
	return sum, nil
}

func (e *Engine) run(ctx context.Context, run *store.Run, req Request, c *counters, start time.Time, progress func(Progress)) (Summary, error) {
	sum := Summary{ShopID: req.ShopID, Mode: req.Mode, AsOf: req.AsOf, StartedAt: run.StartedAt()}
	batchSize, writers := max(e.BatchSize, 1), max(e.Writers, 1)
	// One batch per writer plus one filling circulate, so memory stays at a
	// few batches whatever the shop's size.
	free := make(chan []store.FeatureRow, writers+1)
	full := make(chan []store.FeatureRow)
	for range writers + 1 {
		free <- make([]store.FeatureRow, 0, batchSize)
	}
	g, gctx := errgroup.WithContext(ctx)
	for range writers {
		g.Go(func() error {
			w, err := run.NewWriter(gctx)
			if err != nil {
				return err
			}
			defer w.Close()
			for batch := range full {
				if _, err := w.WriteBatch(gctx, batch); err != nil {
					return err
				}
				c.written.Add(int64(len(batch)))
				free <- batch[:0]
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(full)
		batch := <-free
		err := store.ScanPairs(gctx, e.pool, store.ScanRequest{ShopID: req.ShopID, AsOf: req.AsOf, CustomerIDs: req.CustomerIDs},
			func(p *store.Pair) error {
				c.events.Add(int64(len(p.Events)))
				c.lines.Add(int64(len(p.Lines)))
				batch = append(batch, store.FeatureRow{
					CustomerID: p.CustomerID, ProductID: p.ProductID,
					Vector: features.Compute(req.AsOf, p.Events, p.Lines),
				})
				c.computed.Add(1)
				if len(batch) < batchSize {
					return nil
				}
				select {
				case full <- batch:
				case <-gctx.Done():
					return gctx.Err()
				}
				select {
				case batch = <-free:
					return nil
				case <-gctx.Done():
					return gctx.Err()
				}
			})
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		if len(batch) > 0 {
			select {
			case full <- batch:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})

	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	var err error
	if progress == nil {
		err = <-done
	} else {
		ticker := time.NewTicker(e.ProgressInterval)
	wait:
		for {
			select {
			case err = <-done:
				break wait
			case <-ticker.C:
				progress(c.progress(time.Since(start)))
			}
		}
		ticker.Stop()
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return sum, ctxErr
		}
		return sum, err
	}
	if req.Mode == Full {
		deleted, err := run.DeleteStale(ctx, req.CustomerIDs)
		if err != nil {
			return sum, err
		}
		sum.PairsDeleted = int64(len(deleted))
	}
	sum.EventsRead, sum.OrderLinesRead, sum.PairsWritten = c.events.Load(), c.lines.Load(), c.written.Load()
	sum.Duration = time.Since(start)
	return sum, nil
}
