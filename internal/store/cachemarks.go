package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CacheMark records that cached vectors of one customer of a shop, or of
// every customer of it when CustomerID is "", may be older than the table.
// ID changes each time the same failure is recorded again, so that a repair
// removes only the mark it repaired.
type CacheMark struct {
	ShopID     string
	CustomerID string
	ID         int64
}

// CacheMarks is every mark at one version of cache_marks.
type CacheMarks struct {
	Version int64
	Marks   []CacheMark
}

// bumpMarksVersionSQL moves cache_marks_version on, in the transaction that
// changes cache_marks, and returns the new version.
const bumpMarksVersionSQL = `UPDATE cache_marks_version SET version = version + 1 RETURNING version`

// upsertMarksSQL records marks of a shop ($1) for customers ($2, "" for the
// whole shop) with the id $3.
const upsertMarksSQL = `
INSERT INTO cache_marks (shop_id, customer_id, id)
SELECT DISTINCT $1, c, $3::bigint FROM unnest($2::text[]) AS c
ON CONFLICT (shop_id, customer_id) DO UPDATE SET id = EXCLUDED.id, marked_at = now()`

// MarkCache records durably that the cached vectors of customerIDs of a shop
// may be older than the table; no customers means every customer of the
// shop. A shop whose marked customers would exceed maxCustomers is marked
// whole instead, which keeps the record small. It returns the version of
// cache_marks that holds the marks.
func (s *Store) MarkCache(ctx context.Context, shopID string, customerIDs []string, maxCustomers int) (int64, error) {
	var version int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, bumpMarksVersionSQL).Scan(&version); err != nil {
			return err
		}
		whole := len(customerIDs) == 0
		if !whole {
			if _, err := tx.Exec(ctx, upsertMarksSQL, shopID, customerIDs, version); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM cache_marks WHERE shop_id = $1 AND customer_id <> ''`, shopID).Scan(&n); err != nil {
				return err
			}
			whole = n > maxCustomers
		}
		if !whole {
			return nil
		}
		// The whole shop's repair covers every customer's hash: their own
		// marks are redundant.
		if _, err := tx.Exec(ctx, upsertMarksSQL, shopID, []string{""}, version); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM cache_marks WHERE shop_id = $1 AND customer_id <> ''`, shopID)
		return err
	})
	if err != nil {
		return 0, translate(fmt.Errorf("mark cache of shop %q: %w", shopID, err))
	}
	return version, nil
}

// CacheMarksSince returns every mark with the version of cache_marks that
// holds them, unless cache_marks is still at version known: then it
// returns that version and no marks. One statement reads both, so the
// version and the marks agree.
func (s *Store) CacheMarksSince(ctx context.Context, known int64) (CacheMarks, error) {
	rows, err := s.pool.Query(ctx, `
SELECT v.version, m.shop_id, m.customer_id, m.id
  FROM cache_marks_version v LEFT JOIN cache_marks m ON v.version <> $1`, known)
	if err != nil {
		return CacheMarks{}, translate(fmt.Errorf("read cache marks: %w", err))
	}
	var out CacheMarks
	var shop, customer *string
	var id *int64
	_, err = pgx.ForEachRow(rows, []any{&out.Version, &shop, &customer, &id}, func() error {
		if shop != nil {
			out.Marks = append(out.Marks, CacheMark{ShopID: *shop, CustomerID: *customer, ID: *id})
		}
		return nil
	})
	if err != nil {
		return CacheMarks{}, translate(fmt.Errorf("read cache marks: %w", err))
	}
	return out, nil
}

// UnmarkCache removes marks whose hashes were repaired, each only if its id
// is still the one given: a mark recorded again since stays.
func (s *Store) UnmarkCache(ctx context.Context, marks []CacheMark) error {
	if len(marks) == 0 {
		return nil
	}
	shops, customers, ids := make([]string, len(marks)), make([]string, len(marks)), make([]int64, len(marks))
	for i, m := range marks {
		shops[i], customers[i], ids[i] = m.ShopID, m.CustomerID, m.ID
	}
	_, err := s.pool.Exec(ctx, `
WITH gone AS (
    DELETE FROM cache_marks m
     USING unnest($1::text[], $2::text[], $3::bigint[]) AS u(shop_id, customer_id, id)
     WHERE m.shop_id = u.shop_id AND m.customer_id = u.customer_id AND m.id = u.id
    RETURNING 1
)
UPDATE cache_marks_version SET version = version + 1 WHERE EXISTS (SELECT 1 FROM gone)`, shops, customers, ids)
	if err != nil {
		return translate(fmt.Errorf("remove cache marks: %w", err))
	}
	return nil
}

// shopLockHeldSQL is true while some session holds the compute lock of the
// shop named by the SQL expression shop. pg_locks shows a bigint advisory
// key as its high half in classid and its low half in objid.
func shopLockHeldSQL(shop string) string {
	return `EXISTS (
    SELECT 1 FROM pg_locks l, (SELECT hashtextextended('featurestore/compute/' || ` + shop + `, 0) AS k) key
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.classid = ((key.k >> 32) & 4294967295)::oid AND l.objid = (key.k & 4294967295)::oid)`
}

// MarkUnsettledRuns marks whole every shop with a run whose intent to
// write through is unsettled and which is over: it ended without settling
// it, or it is still recorded as running but its shop's lock is free, so
// its process died. It returns the number of shops marked.
//
// A live run holds its lock from before its row exists until after it
// records its end, so a running row without the lock is dead; a run that
// ends meanwhile clears its intent, and the update then skips its row.
func (s *Store) MarkUnsettledRuns(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `
WITH dead AS (
    UPDATE feature_runs r
       SET cache_pending = false,
           status = CASE WHEN r.status = 'running' THEN 'abandoned' ELSE r.status END,
           finished_at = COALESCE(r.finished_at, now())
     WHERE r.cache_pending AND (r.status <> 'running' OR NOT `+shopLockHeldSQL("r.shop_id")+`)
    RETURNING r.shop_id::text
), v AS (
    UPDATE cache_marks_version SET version = version + 1 WHERE EXISTS (SELECT 1 FROM dead) RETURNING version
), marked AS (
    INSERT INTO cache_marks (shop_id, customer_id, id)
    SELECT DISTINCT d.shop_id, '', v.version FROM dead d, v
    ON CONFLICT (shop_id, customer_id) DO UPDATE SET id = EXCLUDED.id, marked_at = now()
    RETURNING 1
)
SELECT count(*) FROM marked`).Scan(&n)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, translate(fmt.Errorf("mark unsettled runs: %w", err))
	}
	return n, nil
}
