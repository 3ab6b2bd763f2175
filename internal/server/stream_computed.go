package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"time"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
)

// RowComputer computes a shop's features at an instant without storing
// them; *compute.Engine implements it. StreamFeatures with compute = true
// streams what it computes.
type RowComputer interface {
	// ComputeRows must call fn for every pair that req selects with the
	// features a FULL run at req.AsOf would store, in (customer_id,
	// product_id) byte order, reading no further ahead of fn than a bounded
	// buffer, and stop with fn's error as soon as fn fails. fn does not keep
	// the row it is given. When req.After is nil and no pair is found, it
	// must return an error wrapping store.ErrUnknownShop if the shop has no
	// data at all.
	ComputeRows(ctx context.Context, req compute.RowsRequest, fn func(*store.StoredRow) error) error
}

var _ RowComputer = (*compute.Engine)(nil)

// computedQuery checks the fields of a StreamFeatures request with compute =
// true that stored streams do not take, and returns its as_of. as_of is
// required: a training set names the instant it reproduces, and a resumed
// stream must compute at that same instant.
func (s *Service) computedQuery(req *featurestorev1.StreamFeaturesRequest) (time.Time, error) {
	if s.cfg.Rows == nil {
		return time.Time{}, notConfigured("StreamFeatures with compute = true")
	}
	ts := req.GetAsOf()
	if ts == nil || ts.AsTime().IsZero() {
		return time.Time{}, invalid.Field("as_of", "is required with compute = true: name the instant to compute the features at")
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, invalid.Field("as_of", "is not a valid timestamp: %v", err)
	}
	if req.GetUpdatedSince() != nil {
		return time.Time{}, invalid.Field("updated_since", "applies to stored rows only; computed rows are all computed now, so omit it with compute = true")
	}
	return ts.AsTime(), nil
}

// computedScope is the resume-token scope of a stream computed at asOf with
// the filters of stored: a token of a stored stream, or of one computed at
// another instant, does not resume it.
func computedScope(stored streamScope, asOf time.Time) streamScope {
	h := sha256.New()
	h.Write([]byte("featurestore.v1.StreamFeatures computed rows"))
	h.Write(stored[:])
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(asOf.Unix())))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(asOf.Nanosecond())))
	var s streamScope
	copy(s[:], h.Sum(nil))
	return s
}

// readRows calls fn with each row of q in order: rows computed at q.asOf
// when it is set, the stored rows otherwise.
func (s *Service) readRows(ctx context.Context, q streamQuery, fn func(*store.StoredRow) error) error {
	if q.asOf.IsZero() {
		return s.cfg.Exporter.ExportRows(ctx, q.export, fn)
	}
	return s.cfg.Rows.ComputeRows(ctx, compute.RowsRequest{
		ShopID: q.export.ShopID, AsOf: q.asOf, CustomerIDs: q.export.CustomerIDs, After: q.export.After,
	}, fn)
}
