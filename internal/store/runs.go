package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/featurestore/featurestore/internal/features"
)

// lastFullRunSQL selects the start of the latest successful FULL run of
// every customer of the shop named by the SQL expression shop, with the
// features version named by version: the base that INCREMENTAL runs build
// on, and the run a daily refresh repeats. It walks
// feature_runs_shop_started_idx backwards from the shop's newest run.
func lastFullRunSQL(shop, version string) string {
	return `SELECT started_at FROM feature_runs
 WHERE shop_id = ` + shop + ` AND mode = 'full' AND status = 'succeeded' AND customer_count = 0 AND features_version = ` + version + `
 ORDER BY started_at DESC LIMIT 1`
}

// LastFullRun returns when the shop's latest successful FULL run of every
// customer with the current features version started, and false when there
// is none.
func (s *Store) LastFullRun(ctx context.Context, shopID string) (time.Time, bool, error) {
	var at time.Time
	err := s.pool.QueryRow(ctx, lastFullRunSQL("$1", "$2"), shopID, features.Version).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, translate(fmt.Errorf("find last full run: %w", err))
	}
	return at, true, nil
}

// ShopState is what the refresh schedule knows of a shop, all of it kept
// in Postgres so that a restarted server continues the schedule.
type ShopState struct {
	ShopID string
	// Pending says that the shop's change log holds changes.
	Pending bool
	// LastFull is the start of the shop's latest successful FULL run of
	// every customer with the current features version; zero when none.
	LastFull time.Time
}

// ShopStates returns the state of every shop that has pending changes or
// has ever had a run, in shop order. Both sets are read by skipping
// through an index from one shop to the next, so the cost grows with the
// number of shops, not with the size of the log or the run history.
func (s *Store) ShopStates(ctx context.Context) ([]ShopState, error) {
	rows, err := s.pool.Query(ctx, `
WITH RECURSIVE changed(shop_id) AS (
    (SELECT shop_id FROM feature_changes ORDER BY shop_id LIMIT 1)
    UNION ALL
    SELECT (SELECT f.shop_id FROM feature_changes f WHERE f.shop_id > c.shop_id ORDER BY f.shop_id LIMIT 1)
      FROM changed c WHERE c.shop_id IS NOT NULL
), ran(shop_id) AS (
    (SELECT shop_id FROM feature_runs ORDER BY shop_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.shop_id FROM feature_runs r WHERE r.shop_id > p.shop_id ORDER BY r.shop_id LIMIT 1)
      FROM ran p WHERE p.shop_id IS NOT NULL
), shops AS (
    SELECT shop_id, bool_or(pending) AS pending
      FROM (SELECT shop_id, true AS pending FROM changed UNION ALL SELECT shop_id, false FROM ran) s
     WHERE shop_id IS NOT NULL
     GROUP BY shop_id
)
SELECT s.shop_id::text, s.pending, f.started_at
  FROM shops s
  LEFT JOIN LATERAL (`+lastFullRunSQL("s.shop_id", "$1")+`) f ON true
 ORDER BY s.shop_id`, features.Version)
	if err != nil {
		return nil, translate(fmt.Errorf("read shop states: %w", err))
	}
	states, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ShopState, error) {
		var s ShopState
		var last *time.Time
		err := row.Scan(&s.ShopID, &s.Pending, &last)
		if last != nil {
			s.LastFull = *last
		}
		return s, err
	})
	if err != nil {
		return nil, translate(fmt.Errorf("read shop states: %w", err))
	}
	return states, nil
}
