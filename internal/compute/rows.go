package compute

import (
	"context"
	"time"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
)

// RowsRequest selects the rows that ComputeRows computes.
type RowsRequest struct {
	ShopID string
	// AsOf is the computation instant. It is required: a point-in-time
	// export names the instant it reproduces, and a resumed one must
	// compute at that same instant.
	AsOf time.Time
	// CustomerIDs restricts the rows to these customers; empty means all.
	CustomerIDs []string
	// After, when not nil, skips every pair up to and including it.
	After *store.PairKey
}

// ComputeRows computes the features of a shop at req.AsOf straight from its
// events and orders, without reading or writing interaction_features, and
// calls fn with each row in (customer_id, product_id) byte order: exactly
// the rows a FULL run at that as_of writes, in the order StreamFeatures
// exports stored rows, so that a training set can be built for any instant
// without a run. Each row carries the as_of, the current features version
// and, as computed_at, the server's clock when ComputeRows began.
//
// It takes no lock: it runs beside compute runs and other reads. fn must not
// keep the row after it returns: ComputeRows reuses it. An error from fn
// stops the scan and is returned as is. A scan from the start (req.After
// nil) that finds no pair returns a *store.UnknownShopError when the shop
// has no data at all.
func (e *Engine) ComputeRows(ctx context.Context, req RowsRequest, fn func(*store.StoredRow) error) error {
	now := e.now()
	if req.AsOf.IsZero() {
		return invalid.Field("as_of", "is required with compute = true: name the instant to compute the features at")
	}
	if err := validateScope(req.ShopID, req.AsOf, req.CustomerIDs, now); err != nil {
		return err
	}
	// The instant a FULL run at req.AsOf stores, to the microsecond.
	asOf := req.AsOf.UTC().Truncate(time.Microsecond)
	row := store.StoredRow{AsOf: asOf, ComputedAt: now.UTC().Truncate(time.Microsecond), Version: features.Version}
	scan := store.ScanRequest{ShopID: req.ShopID, AsOf: asOf, CustomerIDs: req.CustomerIDs, After: req.After}
	found := false
	err := e.store.ScanPairs(ctx, scan, func(p *store.Pair) error {
		found = true
		row.CustomerID, row.ProductID = p.CustomerID, p.ProductID
		row.Vector = features.Compute(asOf, p.Events, p.Lines)
		return fn(&row)
	})
	if err == nil && !found && req.After == nil {
		return e.store.CheckShopKnown(ctx, req.ShopID)
	}
	return err
}
