package store

import (
	"context"
	"fmt"
)

// analyzeMinRows is the fewest rows a run must write before RefreshStatistics
// looks at the shop's statistics: a smaller misestimate costs little, and
// autovacuum analyses the table in its own time.
const analyzeMinRows = 10_000

// RefreshStatistics runs ANALYZE on interaction_features when a run has
// just written more than 10,000 rows of the shop (written) and the
// planner's statistics estimate fewer than half as many rows for it: the
// shop is new to the table (its first run) or has grown by half since the
// last ANALYZE. Until then every query of the shop would be planned for a
// shop of a few rows; autovacuum corrects that only once a tenth of the
// whole table has changed, which a new shop beside large ones may never
// reach. A later run of a shop the statistics know costs one EXPLAIN, not
// an ANALYZE (which reads a sample of the table: a few hundred
// milliseconds on millions of rows). It reports whether it analysed.
func (s *Store) RefreshStatistics(ctx context.Context, shopID string, written int64) (bool, error) {
	if written <= analyzeMinRows {
		return false, nil
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	err := s.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM interaction_features WHERE shop_id = $1`, shopID).Scan(&plan)
	if err != nil {
		return false, translate(fmt.Errorf("estimate the shop's rows: %w", err))
	}
	if len(plan) == 0 || plan[0].Plan.Rows >= float64(written)/2 {
		return false, nil
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE interaction_features`); err != nil {
		return false, translate(fmt.Errorf("analyze interaction_features: %w", err))
	}
	return true, nil
}
