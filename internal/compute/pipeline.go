package compute

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/store"
)

// batchWriter stores a run's batches; *store.Writer and *store.Replace
// implement it.
type batchWriter interface {
	// WriteBatch must store rows, whole or not at all, and return their
	// last_computed_at.
	WriteBatch(ctx context.Context, rows []store.FeatureRow) (time.Time, error)
}

// computeParts scans the parts on up to Config.Workers workers at once,
// runs the kernel on every pair and writes the vectors through ws, each
// writer taking one batch at a time, while the scans go on. With
// writeThrough, the Sink learns of each batch once it is written: the
// writers commit each batch.
// Batches circulate between the workers and the writers, one per writer
// and worker, so memory stays at a few batches whatever the shop's size.
// For a part that lists its pairs (an incremental run), it returns the
// listed pairs the scan did not find: they no longer exist at as_of.
func (e *Engine) computeParts(ctx context.Context, ws []batchWriter, writeThrough bool, req Request, parts []store.ScanRequest,
	c *counters, start time.Time, progress func(Progress)) ([]store.PairKey, error) {
	if len(parts) == 0 {
		return nil, nil
	}
	batchSize, writers := e.cfg.BatchSize, len(ws)
	workers := min(e.workers(), len(parts))
	free := make(chan []store.FeatureRow, writers+workers)
	full := make(chan []store.FeatureRow)
	for range writers + workers {
		free <- make([]store.FeatureRow, 0, batchSize)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, w := range ws {
		g.Go(func() error { return e.write(gctx, w, writeThrough, req, full, free, c) })
	}
	scanners, sctx := errgroup.WithContext(gctx)
	var (
		next     atomic.Int64
		mu       sync.Mutex
		vanished []store.PairKey
	)
	for range workers {
		scanners.Go(func() error {
			w := &worker{e: e, req: req, full: full, free: free, c: c, batchSize: batchSize}
			for i := next.Add(1) - 1; i < int64(len(parts)); i = next.Add(1) - 1 {
				gone, err := w.scan(sctx, parts[i])
				if err != nil {
					return err
				}
				mu.Lock()
				vanished = append(vanished, gone...)
				mu.Unlock()
			}
			return w.flush(sctx)
		})
	}
	g.Go(func() error {
		defer close(full)
		return scanners.Wait()
	})

	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	if progress == nil {
		err := <-done // before vanished is read: the scanners write it until then
		return vanished, err
	}
	ticker := time.NewTicker(e.cfg.ProgressInterval)
	defer ticker.Stop()
	for {
		select {
		case err := <-done:
			return vanished, err
		case <-ticker.C:
			progress(c.progress(time.Since(start)))
		}
	}
}

// workers is the number of parts a run computes at once: Config.Workers,
// but no more than the pool can serve while the run's lock and writers hold
// their connections, since each worker's scan holds two.
func (e *Engine) workers() int {
	spare := e.store.MaxConns() - 1 - e.writers()
	return max(1, min(e.cfg.Workers, spare/2))
}

// writers is the number of writer connections of a run: Config.Writers,
// but no more than leave a scan its two connections beside the run's lock.
func (e *Engine) writers() int {
	return max(1, min(e.cfg.Writers, e.store.MaxConns()-minRunConns+1))
}

// minRunConns is the fewest connections a run can progress with: its lock,
// one writer and a scan's two.
const minRunConns = 4

// write stores the batches that arrive on full until it is closed, tells
// the Sink of each when writeThrough is set, and hands each back on free.
func (e *Engine) write(ctx context.Context, w batchWriter, writeThrough bool, req Request, full <-chan []store.FeatureRow, free chan<- []store.FeatureRow, c *counters) error {
	for batch := range full {
		if writeThrough {
			c.changed.Store(true)
		}
		computedAt, err := w.WriteBatch(ctx, batch)
		if err != nil {
			if writeThrough {
				// The batch may have committed without its answer
				// arriving: the cache cannot be told which rows changed.
				c.unsettled.Store(true)
			}
			return err
		}
		c.written.Add(int64(len(batch)))
		if writeThrough && e.cfg.Sink != nil {
			if err := e.cfg.Sink.Written(ctx, req.ShopID, batch, computedAt, req.AsOf); err != nil {
				c.unsettled.Store(true)
				e.logger.WarnContext(ctx, "write-through failed and was not recorded", "shop_id", req.ShopID, "rows", len(batch), "error", err)
			}
		}
		free <- batch[:0]
	}
	return nil
}

// worker fills batches with the vectors of the parts it scans.
type worker struct {
	e         *Engine
	req       Request
	full      chan<- []store.FeatureRow
	free      <-chan []store.FeatureRow
	c         *counters
	batchSize int
	batch     []store.FeatureRow // nil until the worker takes one from free
}

// scan computes the pairs of one part and returns those of its listed
// pairs (if it lists them) that the scan did not find.
func (w *worker) scan(ctx context.Context, part store.ScanRequest) ([]store.PairKey, error) {
	var gone []store.PairKey
	expected := part.Pairs
	err := w.e.store.ScanPairs(ctx, part, func(p *store.Pair) error {
		// The scan returns listed pairs in the list's order; those it skips
		// have no inputs left.
		for len(expected) > 0 && comparePair(expected[0], p.CustomerID, p.ProductID) < 0 {
			gone, expected = append(gone, expected[0]), expected[1:]
		}
		if len(expected) > 0 && comparePair(expected[0], p.CustomerID, p.ProductID) == 0 {
			expected = expected[1:]
		}
		w.c.events.Add(int64(len(p.Events)))
		w.c.lines.Add(int64(len(p.Lines)))
		return w.add(ctx, store.FeatureRow{CustomerID: p.CustomerID, ProductID: p.ProductID,
			Vector: features.Compute(w.req.AsOf, p.Events, p.Lines)})
	})
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return append(gone, expected...), nil
}

// add appends a row to the worker's batch and hands the batch to the
// writers when it is full.
func (w *worker) add(ctx context.Context, row store.FeatureRow) error {
	if w.batch == nil {
		select {
		case w.batch = <-w.free:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.batch = append(w.batch, row)
	w.c.computed.Add(1)
	if len(w.batch) < w.batchSize {
		return nil
	}
	return w.flush(ctx)
}

// flush hands the worker's batch, if it holds rows, to the writers.
func (w *worker) flush(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	select {
	case w.full <- w.batch:
		w.batch = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// comparePair orders a pair against (customer, product) in byte order, the
// order of every scan.
func comparePair(k store.PairKey, customer, product string) int {
	return cmp.Or(cmp.Compare(k.CustomerID, customer), cmp.Compare(k.ProductID, product))
}
