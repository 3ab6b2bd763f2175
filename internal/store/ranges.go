package store

import (
	"context"
	"fmt"
	"slices"
)

// sampleRows is about how many rows of user_interactions CustomerRanges
// samples: enough for quantiles within a percent or so, read in a few
// milliseconds whatever the table's size.
const sampleRows = 30_000

// minSampleRows is the fewest of the shop's events a sample must hold for
// its quantiles to be trusted; below it CustomerRanges reads the shop's
// distinct customers instead.
const minSampleRows = 1_000

// CustomerRanges splits the customers of a shop into at most n ranges of
// about as many events each, in byte order, that together hold every
// customer id: the first is open below and the last open above. A run
// computes them at once on several workers.
//
// The boundaries come from a sample of the table's pages (TABLESAMPLE
// SYSTEM), so finding them costs a few milliseconds instead of a read of
// the shop's index. A shop with too few events in the sample (a small shop
// in a large table) is split by its distinct customers instead, read from
// the pair-scan index, which for such a shop is cheap.
func (s *Store) CustomerRanges(ctx context.Context, shopID string, n int) ([]CustomerRange, error) {
	if n <= 1 {
		return []CustomerRange{{}}, nil
	}
	quantiles := make([]float64, n-1)
	for i := range quantiles {
		quantiles[i] = float64(i+1) / float64(n)
	}
	var tableRows float64
	if err := s.pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'user_interactions'::regclass`).Scan(&tableRows); err != nil {
		return nil, translate(fmt.Errorf("estimate table size: %w", err))
	}
	// reltuples is -1 (or 0) for a table never analysed: sample all of it.
	percent := 100.0
	if tableRows > sampleRows {
		percent = 100 * sampleRows / tableRows
	}
	var bounds []string
	var sampled int64
	err := s.pool.QueryRow(ctx, `
SELECT percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY customer_id COLLATE "C")::text[], count(*)
  FROM user_interactions TABLESAMPLE SYSTEM ($3) REPEATABLE (0)
 WHERE shop_id = $1 AND customer_id <> '' AND product_id <> ''`, shopID, quantiles, percent).Scan(&bounds, &sampled)
	if err != nil {
		return nil, translate(fmt.Errorf("sample customers: %w", err))
	}
	if sampled < minSampleRows && percent < 100 {
		err := s.pool.QueryRow(ctx, `
SELECT percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY customer_id)::text[]
  FROM (SELECT DISTINCT customer_id COLLATE "C" AS customer_id FROM user_interactions
         WHERE shop_id = $1 AND customer_id <> '' AND product_id <> '') c`, shopID, quantiles).Scan(&bounds)
		if err != nil {
			return nil, translate(fmt.Errorf("read customers: %w", err))
		}
	}
	return rangesBetween(bounds), nil
}

// rangesBetween returns the ranges that bounds (ascending in byte order,
// possibly repeating, NULL where the sample was empty) separate.
func rangesBetween(bounds []string) []CustomerRange {
	bounds = slices.Compact(slices.DeleteFunc(slices.Clone(bounds), func(b string) bool { return b == "" }))
	ranges := make([]CustomerRange, 0, len(bounds)+1)
	from := ""
	for _, b := range bounds {
		ranges = append(ranges, CustomerRange{From: from, To: b})
		from = b
	}
	return append(ranges, CustomerRange{From: from})
}
