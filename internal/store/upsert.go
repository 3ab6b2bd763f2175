package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/features"
)

// FeatureRow is one computed pair, ready to be stored.
type FeatureRow struct {
	CustomerID string
	ProductID  string
	Vector     features.Vector
}

// stageTable receives each batch by COPY before one INSERT ... ON CONFLICT
// merges it into interaction_features. It is a temporary table, private to
// the run's connection, emptied at every commit.
const stageTable = "featurestore_stage"

var (
	// stageColumns are the columns a batch carries, in COPY order.
	stageColumns = append(append([]string{"shop_id", "customer_id", "product_id"}, features.Names()...), "as_of", "features_version")

	createStageSQL = fmt.Sprintf(
		`CREATE TEMP TABLE IF NOT EXISTS %s ON COMMIT DELETE ROWS AS SELECT %s FROM interaction_features WITH NO DATA`,
		stageTable, strings.Join(stageColumns, ", "))

	upsertSQL = func() string {
		set := make([]string, 0, len(stageColumns))
		for _, c := range stageColumns[3:] {
			set = append(set, c+" = EXCLUDED."+c)
		}
		set = append(set, "last_computed_at = EXCLUDED.last_computed_at")
		cols := strings.Join(stageColumns, ", ")
		return fmt.Sprintf(`INSERT INTO interaction_features (%s, last_computed_at) SELECT %s, $1 FROM %s
ON CONFLICT (shop_id, customer_id, product_id) DO UPDATE SET %s`, cols, cols, stageTable, strings.Join(set, ", "))
	}()
)

// Run is one compute run's hold on a shop: a dedicated connection that owns
// the shop's advisory lock for as long as the run goes on. Exactly one Run
// per shop can exist at a time, across every server sharing the database.
// A Run's batches are written by its Writers.
type Run struct {
	store       *Store
	conn        *pgxpool.Conn
	id          int64
	shopID      string
	customerIDs []string
	asOf        time.Time
	startedAt   time.Time
	// claimed is set once ClaimChanges has copied the shop's change log.
	claimed bool
}

// RunInfo describes the run being started.
type RunInfo struct {
	ShopID string
	Mode   string
	AsOf   time.Time
	// CustomerIDs is the run's customer subset; empty means the whole shop.
	CustomerIDs []string
	// RefuseAfter, when not zero, refuses the run with a *PastAsOfError if
	// the shop's last successful run has an as_of later than it. The check
	// is made under the shop's lock, so no run can succeed in between.
	RefuseAfter time.Time
}

// lockKeySQL derives the shop's advisory lock key; the prefix keeps it apart
// from other users of advisory locks in the same database.
const lockKeySQL = `hashtextextended('featurestore/compute/' || $1, 0)`

// BeginRun takes the shop's compute lock and records the run. It returns
// ErrShopLocked when another run holds the lock, and a *PastAsOfError when
// info.RefuseAfter refuses it; a refused run is not recorded. The caller
// must call Finish. The run is recorded with its intent to write through to
// the cache unsettled (cache_pending) until Finish says otherwise: a run
// whose process dies leaves it, and MarkUnsettledRuns then marks the shop's
// cache.
func (s *Store) BeginRun(ctx context.Context, info RunInfo) (*Run, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, translate(fmt.Errorf("acquire connection: %w", err))
	}
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKeySQL+`)`, info.ShopID).Scan(&locked); err != nil {
		conn.Release()
		return nil, translate(fmt.Errorf("take shop lock: %w", err))
	}
	if !locked {
		conn.Release()
		return nil, ErrShopLocked
	}
	r := &Run{store: s, conn: conn, shopID: info.ShopID, customerIDs: info.CustomerIDs, asOf: info.AsOf}
	// Holding the lock proves that no run of the shop is alive: one still
	// marked running was stopped without recording its end (a killed process).
	_, err = conn.Exec(ctx, `
UPDATE feature_runs SET status = 'abandoned', finished_at = now()
 WHERE shop_id = $1 AND status = 'running'`, info.ShopID)
	if err == nil && !info.RefuseAfter.IsZero() {
		var last time.Time
		err = conn.QueryRow(ctx, `
SELECT as_of FROM feature_runs WHERE shop_id = $1 AND status = 'succeeded' ORDER BY started_at DESC LIMIT 1`, info.ShopID).Scan(&last)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			err = nil
		case err == nil && last.After(info.RefuseAfter):
			r.release(ctx)
			return nil, &PastAsOfError{ShopID: info.ShopID, AsOf: info.AsOf, LastAsOf: last}
		}
	}
	if err == nil {
		err = conn.QueryRow(ctx, `
INSERT INTO feature_runs (shop_id, mode, as_of, started_at, features_version, customer_count, cache_pending)
VALUES ($1, $2, $3, now(), $4, $5, true)
RETURNING id, started_at`, info.ShopID, info.Mode, info.AsOf, features.Version, len(info.CustomerIDs)).Scan(&r.id, &r.startedAt)
	}
	if err != nil {
		r.release(ctx)
		return nil, translate(fmt.Errorf("record run: %w", err))
	}
	return r, nil
}

// StartedAt is the database's clock when the run began. Every row the run
// writes has a later last_computed_at.
func (r *Run) StartedAt() time.Time { return r.startedAt }

// Writer writes a run's batches on a connection of its own, so that several
// can write at once while the scan reads on others.
type Writer struct {
	run    *Run
	conn   *pgxpool.Conn
	values []any
}

// NewWriter returns a writer for the run. The caller must Close it.
func (r *Run) NewWriter(ctx context.Context) (*Writer, error) {
	conn, err := r.store.pool.Acquire(ctx)
	if err != nil {
		return nil, translate(fmt.Errorf("acquire connection: %w", err))
	}
	// A batch that is lost in a crash is rewritten by the next run; not
	// waiting for its WAL flush at every commit lets a run write faster.
	if _, err := conn.Exec(ctx, createStageSQL+"; SET synchronous_commit = off"); err != nil {
		conn.Release()
		return nil, translate(fmt.Errorf("prepare writer: %w", err))
	}
	return &Writer{run: r, conn: conn}, nil
}

// Close returns the writer's connection to the pool with the session as it
// found it: a stage table left behind would outlive a schema change.
func (w *Writer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := w.conn.Exec(ctx, "DROP TABLE IF EXISTS "+stageTable+"; RESET synchronous_commit"); err != nil {
		_ = w.conn.Conn().Close(ctx)
	}
	w.conn.Release()
}

// WriteBatch stores rows in one transaction: COPY into the stage table, then
// one upsert. A failed or cancelled batch leaves nothing of itself behind.
// It returns the rows' last_computed_at.
func (w *Writer) WriteBatch(ctx context.Context, rows []FeatureRow) (time.Time, error) {
	var computedAt time.Time
	err := pgx.BeginFunc(ctx, w.conn, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&computedAt); err != nil {
			return err
		}
		src := &rowSource{run: w.run, values: &w.values, rows: rows, idx: -1}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{stageTable}, stageColumns, src); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if _, err := tx.Exec(ctx, upsertSQL, computedAt); err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, translate(fmt.Errorf("write batch of %d rows: %w", len(rows), err))
	}
	return computedAt, nil
}

// rowSource feeds a batch to COPY without building the whole batch's values
// at once. Each row carries the run's shop, as_of and features version, and
// lastComputedAt when it is set (the stage table has no such column).
type rowSource struct {
	run            *Run
	values         *[]any
	rows           []FeatureRow
	idx            int
	lastComputedAt *time.Time
}

func (s *rowSource) Next() bool { s.idx++; return s.idx < len(s.rows) }
func (s *rowSource) Err() error { return nil }
func (s *rowSource) Values() ([]any, error) {
	row := &s.rows[s.idx]
	v := append((*s.values)[:0], s.run.shopID, row.CustomerID, row.ProductID)
	v = row.Vector.AppendValues(v)
	v = append(v, s.run.asOf, int64(features.Version))
	if s.lastComputedAt != nil {
		v = append(v, *s.lastComputedAt)
	}
	*s.values = v
	return v, nil
}

// DeleteStale removes the shop's rows that this run did not write: pairs that
// no longer exist at the run's as_of. With customerIDs, only those
// customers' rows are considered. It returns the removed pairs.
func (r *Run) DeleteStale(ctx context.Context, customerIDs []string) ([]PairKey, error) {
	if customerIDs == nil {
		customerIDs = []string{}
	}
	rows, err := r.conn.Query(ctx, `
DELETE FROM interaction_features
 WHERE shop_id = $1 AND last_computed_at < $2
   AND (cardinality($3::text[]) = 0 OR customer_id = ANY($3::text[]))
RETURNING customer_id, product_id`, r.shopID, r.startedAt, customerIDs)
	if err != nil {
		return nil, translate(fmt.Errorf("delete stale rows: %w", err))
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PairKey])
	if err != nil {
		return nil, translate(fmt.Errorf("delete stale rows: %w", err))
	}
	return keys, nil
}

// PairKey names one (customer, product) pair of a shop.
type PairKey struct {
	CustomerID string
	ProductID  string
}

// RunTotals are a finished run's counts, recorded in feature_runs.
type RunTotals struct {
	EventsRead, OrderLinesRead, PairsWritten, PairsDeleted int64
	// CacheSettled says that every batch and removal the run committed was
	// written through to the cache or marked in cache_marks. When false,
	// the run's intent stays, and MarkUnsettledRuns marks the whole shop.
	CacheSettled bool
}

// recordOutcomeSQL records a run's end in feature_runs.
const recordOutcomeSQL = `
UPDATE feature_runs SET finished_at = now(), status = $2, events_read = $3, order_lines_read = $4,
       pairs_written = $5, pairs_deleted = $6, error = NULLIF($7, ''), cache_pending = cache_pending AND NOT $8
 WHERE shop_id = $9 AND id = $1`

// Finish records the run's outcome (runErr nil means success), releases the
// shop's lock and returns the connection to the pool. A successful run
// consumes the changes it claimed in the transaction that records its
// success, so that they are gone exactly when the run's rows are known to be
// complete. A failed run is recorded with its own context and another
// connection, so that a cancelled run, whose own connection may have been
// closed mid-statement, is still recorded; its claimed changes stay for the
// next run. Finish returns an error when the success could not be recorded
// (the run then counts as failed) or the outcome not recorded at all.
func (r *Run) Finish(totals RunTotals, runErr error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer r.release(ctx)
	if runErr == nil {
		err := pgx.BeginFunc(ctx, r.conn, func(tx pgx.Tx) error {
			if err := r.consumeChanges(ctx, tx); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, recordOutcomeSQL, r.id, "succeeded", totals.EventsRead, totals.OrderLinesRead,
				totals.PairsWritten, totals.PairsDeleted, "", totals.CacheSettled, r.shopID)
			return err
		})
		if err == nil {
			return nil
		}
		runErr = translate(fmt.Errorf("record run success: %w", err))
		if failErr := r.recordFailure(ctx, totals, runErr); failErr != nil {
			return errors.Join(runErr, failErr)
		}
		return runErr
	}
	return r.recordFailure(ctx, totals, runErr)
}

// recordFailure records that the run failed with runErr.
func (r *Run) recordFailure(ctx context.Context, totals RunTotals, runErr error) error {
	status := "failed"
	if errors.Is(runErr, context.Canceled) {
		status = "cancelled"
	}
	_, err := r.store.pool.Exec(ctx, recordOutcomeSQL, r.id, status, totals.EventsRead, totals.OrderLinesRead,
		totals.PairsWritten, totals.PairsDeleted, runErr.Error(), totals.CacheSettled, r.shopID)
	if err != nil {
		return translate(fmt.Errorf("record run outcome: %w", err))
	}
	return nil
}

// release unlocks the shop, drops the claimed changes' copy and returns the
// connection. If that fails the connection is closed instead, which
// releases the lock and the copy with it.
func (r *Run) release(ctx context.Context) {
	if _, err := r.conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockKeySQL+`)`, r.shopID); err != nil {
		_ = r.conn.Conn().Close(ctx)
	} else if _, err := r.conn.Exec(ctx, dropClaimSQL); err != nil {
		_ = r.conn.Conn().Close(ctx)
	}
	r.conn.Release()
}
