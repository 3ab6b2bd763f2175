package compute

import (
	"context"
	"slices"

	"github.com/featurestore/featurestore/internal/store"
)

const (
	// minPartPairs is the fewest changed pairs worth a part of their own:
	// below it the queries' start costs more than a second worker saves.
	minPartPairs = 256
	// maxPartPairs bounds a part's pair list, which travels to Postgres as
	// two array parameters, and lets workers share out a large change set.
	maxPartPairs = 50_000
)

// fullParts splits a FULL run into parts that workers compute at once: the
// requested customers in as many sorted groups as workers, or the shop's
// customers in ranges of about as many events each.
func (e *Engine) fullParts(ctx context.Context, req Request) ([]store.ScanRequest, error) {
	n := e.workers()
	base := store.ScanRequest{ShopID: req.ShopID, AsOf: req.AsOf}
	if len(req.CustomerIDs) > 0 {
		customers := slices.Compact(slices.Sorted(slices.Values(req.CustomerIDs)))
		var parts []store.ScanRequest
		for group := range slices.Chunk(customers, (len(customers)+n-1)/n) {
			part := base
			part.CustomerIDs = group
			parts = append(parts, part)
		}
		return parts, nil
	}
	ranges, err := e.store.CustomerRanges(ctx, req.ShopID, n)
	if err != nil {
		return nil, err
	}
	parts := make([]store.ScanRequest, len(ranges))
	for i, r := range ranges {
		parts[i] = base
		parts[i].Customers = r
	}
	return parts, nil
}

// incrementalParts resolves the run's claimed changes into the pairs to
// recompute and splits them, in order, into parts that workers compute at
// once.
func (e *Engine) incrementalParts(ctx context.Context, run *store.Run, req Request) ([]store.ScanRequest, error) {
	pairs, err := run.ChangedPairs(ctx)
	if err != nil {
		return nil, err
	}
	size := min(max((len(pairs)+e.workers()-1)/e.workers(), minPartPairs), maxPartPairs)
	var parts []store.ScanRequest
	for chunk := range slices.Chunk(pairs, size) {
		parts = append(parts, store.ScanRequest{ShopID: req.ShopID, AsOf: req.AsOf, Pairs: chunk})
	}
	return parts, nil
}
