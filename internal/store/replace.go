package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A FULL run of a whole shop rewrites every row of the shop. Updating each
// row in place (the upsert of Writer) costs Postgres several times what
// writing fresh rows costs, and readers would see the run's batches land
// one by one, beside rows of the previous run. A Replace instead removes
// the shop's rows and COPYs the new ones into interaction_features in one
// transaction:
//
//   - readers see the previous run until the transaction commits and the new
//     one after it, never a mix of two as_of for one shop: every statement
//     reads one snapshot;
//   - a run that fails, is cancelled or whose process dies leaves the
//     previous rows exactly as they were: its transaction never commits;
//   - the transaction takes no lock that a reader waits for, nor waits for
//     any reader: it takes the ROW EXCLUSIVE table lock of every INSERT,
//     which conflicts only with DDL and maintenance (CREATE INDEX without
//     CONCURRENTLY, ALTER TABLE, VACUUM FULL, LOCK TABLE). A long reader,
//     such as a StreamFeatures export of the shop, goes on reading the rows
//     of its snapshot to its end, and a new statement reads the new rows.
//     Swapping partitions instead would need DETACH PARTITION, whose ACCESS
//     EXCLUSIVE lock on the whole table waits for every reader of every
//     shop, and queues every reader behind it. Nesting a partitioned table
//     per shop would narrow that lock to the shop's readers, but a running
//     export of the shop would still hold the swap for its whole length,
//     or, read in several statements, find the new partition, whose rows
//     its snapshot cannot see: DDL is not MVCC.
//
// The removal waits at most replaceLockTimeout for a lock held by such
// maintenance (or by another writer of the shop's rows outside compute
// runs), then tries again, until the run's context ends. The rows the
// removal leaves dead are reclaimed by autovacuum once no snapshot can see
// them, as those of an upsert were.
type Replace struct {
	run        *Run
	conn       *pgxpool.Conn
	tx         pgx.Tx
	computedAt time.Time
	values     []any
	finished   bool
	// removed is the number of previous rows the Replace removed.
	removed int64
	// previous, from just before the commit until Walk ends, is a
	// read-only transaction whose snapshot holds the previous rows.
	previous pgx.Tx
}

// replaceLockTimeout bounds each wait of a Replace's removal for a lock.
const replaceLockTimeout = 2 * time.Second

// lockNotAvailable is the SQLSTATE of a wait that lock_timeout ended.
const lockNotAvailable = "55P03"

var (
	// replaceColumns are the columns a Replace COPYs, in order.
	replaceColumns = append(append([]string(nil), stageColumns...), "last_computed_at")

	// shopPairsSQL reads a shop's pairs in byte order, through the pair key.
	shopPairsSQL = `SELECT customer_id, product_id FROM interaction_features WHERE shop_id = $1 ORDER BY customer_id, product_id`
)

// BeginReplace starts the rewrite of every row of the run's shop on a
// connection of its own. Its rows are visible to no one else until Commit;
// the caller must Close it.
func (r *Run) BeginReplace(ctx context.Context) (*Replace, error) {
	conn, err := r.store.pool.Acquire(ctx)
	if err != nil {
		return nil, translate(fmt.Errorf("acquire connection: %w", err))
	}
	x := &Replace{run: r, conn: conn}
	if err := x.begin(ctx); err != nil {
		x.Close()
		return nil, translate(fmt.Errorf("begin replacing the rows of shop %q: %w", r.shopID, err))
	}
	return x, nil
}

// begin opens the transaction and removes the shop's rows in it.
func (x *Replace) begin(ctx context.Context) error {
	var err error
	if x.tx, err = x.conn.Begin(ctx); err != nil {
		return err
	}
	if err := x.tx.QueryRow(ctx, `SELECT now()`).Scan(&x.computedAt); err != nil {
		return err
	}
	if _, err := x.tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, replaceLockTimeout.Milliseconds())); err != nil {
		return err
	}
	for {
		err := pgx.BeginFunc(ctx, x.tx, func(sp pgx.Tx) error {
			tag, err := sp.Exec(ctx, `DELETE FROM interaction_features WHERE shop_id = $1`, x.run.shopID)
			x.removed = tag.RowsAffected()
			return err
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != lockNotAvailable {
			if err != nil {
				return fmt.Errorf("remove the previous rows: %w", err)
			}
			return nil
		}
		select {
		case <-time.After(replaceLockTimeout / 4):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Removed is the number of previous rows the Replace removes: 0 for a
// shop that had none, whose every pair is new.
func (x *Replace) Removed() int64 { return x.removed }

// ComputedAt is the last_computed_at of every row the Replace writes: the
// database's clock when it began, later than the run's start.
func (x *Replace) ComputedAt() time.Time { return x.computedAt }

// WriteBatch COPYs rows into the shop and returns their last_computed_at
// (ComputedAt). Nothing of them is visible before Commit; an error leaves
// the Replace unusable (Close rolls it back).
func (x *Replace) WriteBatch(ctx context.Context, rows []FeatureRow) (time.Time, error) {
	src := &rowSource{run: x.run, values: &x.values, rows: rows, idx: -1, lastComputedAt: &x.computedAt}
	if _, err := x.tx.CopyFrom(ctx, pgx.Identifier{"interaction_features"}, replaceColumns, src); err != nil {
		return time.Time{}, translate(fmt.Errorf("copy batch of %d rows: %w", len(rows), err))
	}
	return x.computedAt, nil
}

// Commit makes the written rows the shop's rows, at once. Walk then tells
// which pairs no longer exist. An error may come after the commit took
// effect, when its answer was lost.
func (x *Replace) Commit(ctx context.Context) error {
	// The previous rows stay readable in this snapshot, taken before the
	// commit, for Walk to set beside the new ones.
	prev, err := x.run.store.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return translate(fmt.Errorf("commit replacement: %w", err))
	}
	x.previous = prev
	if _, err := prev.Exec(ctx, `SELECT 1`); err != nil {
		return translate(fmt.Errorf("commit replacement: hold the previous rows: %w", err))
	}
	err = x.tx.Commit(ctx)
	x.finished = true
	if err != nil {
		return translate(fmt.Errorf("commit replacement: %w", err))
	}
	return nil
}

// Walk goes, after Commit, through the shop's new rows and the previous
// rows' pairs together, in (customer_id, product_id) byte order: it calls
// fn with each pair that the Replace wrote, and with each pair of the
// previous rows that it did not write again (a pair that no longer
// exists), then with row nil. With rows, fn gets each written pair's row
// (which it must not keep: Walk reuses it); without, row is nil for every
// pair and only the pairs are read. An error from fn stops the walk and is
// returned as is.
func (x *Replace) Walk(ctx context.Context, rows bool, fn func(key PairKey, row *StoredRow, vanished bool) error) error {
	if x.previous == nil {
		return errors.New("walk a replacement that did not commit")
	}
	old, err := x.previous.Query(ctx, shopPairsSQL, x.run.shopID)
	if err != nil {
		return translate(fmt.Errorf("read the previous pairs: %w", err))
	}
	defer old.Close()
	var prev PairKey
	more := true
	next := func() error {
		if more = old.Next(); more {
			return old.Scan(&prev.CustomerID, &prev.ProductID)
		}
		return nil
	}
	if err := next(); err != nil {
		return translate(fmt.Errorf("read the previous pairs: %w", err))
	}
	// through hands fn the previous pairs before key (all, when key is
	// nil), and skips key's own.
	through := func(key *PairKey) error {
		for more && (key == nil || comparePairs(prev, *key) <= 0) {
			if key == nil || prev != *key {
				if err := fn(prev, nil, true); err != nil {
					return err
				}
			}
			if err := next(); err != nil {
				return translate(fmt.Errorf("read the previous pairs: %w", err))
			}
		}
		return nil
	}
	written := func(key PairKey, row *StoredRow) error {
		if err := through(&key); err != nil {
			return err
		}
		return fn(key, row, false)
	}
	if rows {
		err = x.run.store.eachStoredRow(ctx, exportSQL(ExportRequest{ShopID: x.run.shopID}, func(any) string { return "$1" }), []any{x.run.shopID},
			func(r *StoredRow) error { return written(PairKey{r.CustomerID, r.ProductID}, r) })
	} else {
		err = x.eachPair(ctx, func(k PairKey) error { return written(k, nil) })
	}
	if err == nil {
		err = through(nil)
	}
	if err == nil {
		err = old.Err()
	}
	return translate(err)
}

// eachPair calls fn with each of the shop's pairs, in byte order.
func (x *Replace) eachPair(ctx context.Context, fn func(PairKey) error) error {
	rows, err := x.run.store.pool.Query(ctx, shopPairsSQL, x.run.shopID)
	if err != nil {
		return fmt.Errorf("read the new pairs: %w", err)
	}
	defer rows.Close()
	var k PairKey
	for rows.Next() {
		if err := rows.Scan(&k.CustomerID, &k.ProductID); err != nil {
			return fmt.Errorf("read the new pairs: %w", err)
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return rows.Err()
}

// comparePairs orders two pairs in byte order, the order of the pair key.
func comparePairs(a, b PairKey) int {
	return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.ProductID, b.ProductID))
}

// Close rolls back a Replace that did not commit, which leaves the shop's
// previous rows as they were, and returns its connection to the pool (or
// closes it when the rollback fails, which ends the transaction too).
func (x *Replace) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if x.previous != nil {
		_ = x.previous.Rollback(ctx) // read-only: a failure ends the connection, and the snapshot with it
	}
	if x.tx != nil && !x.finished {
		if err := x.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
			_ = x.conn.Conn().Close(ctx)
		}
	}
	x.conn.Release()
}
