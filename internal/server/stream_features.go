package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
)

// Exporter reads a shop's stored rows in bulk; *store.Store implements it.
type Exporter interface {
	// ExportRows must call fn for every stored row that req selects, in
	// (customer_id, product_id) byte order, reading no further ahead of fn
	// than a bounded buffer, and stop with fn's error as soon as fn fails.
	// fn does not keep the row it is given. When req.After is nil and no
	// row is selected, it must return an error wrapping
	// store.ErrUnknownShop if the shop has no data at all.
	ExportRows(ctx context.Context, req store.ExportRequest, fn func(*store.StoredRow) error) error
}

var _ Exporter = (*store.Store)(nil)

const (
	defaultStreamBatch = 1000
	maxStreamBatch     = 10_000
	// maxStreamCustomers bounds customer_ids: larger subsets are better
	// exported in parts, or whole and filtered by the reader.
	maxStreamCustomers = 10_000
)

// streamQuery is a validated StreamFeatures request.
type streamQuery struct {
	export    store.ExportRequest
	batchSize int
	scope     streamScope
	// asOf, when set, streams rows computed at that instant instead of the
	// stored ones (compute = true).
	asOf time.Time
}

// StreamFeatures sends the stored rows of a shop, or with compute = true
// rows computed at as_of from the events (readRows), in (customer_id,
// product_id) order, in batches that each carry a resume token. One
// goroutine reads and converts the next batch while the handler sends the
// previous one; they hand batches over without a buffer, so at most two
// batches are in memory whatever the shop's size, and a slow client slows
// the database read down instead. The read is one query, cancelled with the
// call.
//
// The StreamLimits bound the calls served at once, and cancel a call whose
// client has read nothing for their StallTimeout: its read stops, and its
// connection returns to the pool, as soon as the timeout passes.
func (s *Service) StreamFeatures(req *featurestorev1.StreamFeaturesRequest, stream featurestorev1.FeatureStoreService_StreamFeaturesServer) error {
	callCtx := stream.Context()
	q, err := s.streamQuery(req)
	if err != nil {
		return s.status(callCtx, err)
	}
	release, err := s.streams.admit()
	if err != nil {
		return s.status(callCtx, err)
	}
	defer release()
	ctx, cancel := context.WithCancel(callCtx)
	defer cancel()
	batches := make(chan []*featurestorev1.FeatureRecord)
	var g errgroup.Group
	g.Go(func() error {
		defer close(batches)
		return s.readBatches(ctx, q, batches)
	})
	sender := newStallSender(stream.Send, s.streams.limits.StallTimeout)
	defer sender.close()
	var sendErr error
	for batch := range batches {
		if sendErr != nil {
			continue // drain, so that the reader sees the cancellation
		}
		last := batch[len(batch)-1]
		token := resumeToken{scope: q.scope, after: store.PairKey{CustomerID: last.GetCustomerId(), ProductID: last.GetProductId()}}
		if sendErr = sender.send(&featurestorev1.StreamFeaturesResponse{Records: batch, ResumeToken: token.encode()}); sendErr != nil {
			cancel()
		}
	}
	readErr := g.Wait()
	var stalled *streamStalledError
	switch {
	case errors.As(sendErr, &stalled):
		s.streams.stalled.Inc()
		return s.status(callCtx, sendErr)
	case callCtx.Err() != nil:
		// The caller cancelled or ran out of time; what failed after that
		// only followed from it.
		return s.status(callCtx, callCtx.Err())
	case sendErr != nil:
		return s.status(callCtx, sendErr)
	}
	return s.status(callCtx, readErr)
}

// readBatches reads q's rows and hands them to out in batches of
// q.batchSize (the last one may be shorter).
func (s *Service) readBatches(ctx context.Context, q streamQuery, out chan<- []*featurestorev1.FeatureRecord) error {
	handOver := func(batch []*featurestorev1.FeatureRecord) error {
		select {
		case out <- batch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	batch := make([]*featurestorev1.FeatureRecord, 0, q.batchSize)
	err := s.readRows(ctx, q, func(r *store.StoredRow) error {
		batch = append(batch, protoconv.Record(r))
		if len(batch) < q.batchSize {
			return nil
		}
		if err := handOver(batch); err != nil {
			return err
		}
		batch = make([]*featurestorev1.FeatureRecord, 0, q.batchSize)
		return nil
	})
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		return handOver(batch)
	}
	return nil
}

// streamQuery validates req and resolves its resume token.
func (s *Service) streamQuery(req *featurestorev1.StreamFeaturesRequest) (streamQuery, error) {
	var q streamQuery
	switch {
	case req.GetCompute():
		var err error
		if q.asOf, err = s.computedQuery(req); err != nil {
			return q, err
		}
	case s.cfg.Exporter == nil:
		return q, notConfigured("StreamFeatures of stored rows (without compute = true)")
	case req.GetAsOf() != nil:
		return q, invalid.Field("as_of", "applies only with compute = true; stored rows carry the as_of they were computed for")
	}
	q.export.ShopID = req.GetShopId()
	if err := invalid.ID("shop_id", q.export.ShopID); err != nil {
		return q, err
	}
	switch n := req.GetBatchSize(); {
	case n == 0:
		q.batchSize = defaultStreamBatch
	case n < 1 || n > maxStreamBatch:
		return q, invalid.Field("batch_size", "is %d; it must be 1 to %d rows, or 0 for the default of %d", n, maxStreamBatch, defaultStreamBatch)
	default:
		q.batchSize = int(n)
	}
	if ts := req.GetUpdatedSince(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return q, invalid.Field("updated_since", "is not a valid timestamp: %v", err)
		}
		q.export.UpdatedSince = ts.AsTime()
	}
	q.export.CustomerIDs = req.GetCustomerIds()
	if n := len(q.export.CustomerIDs); n > maxStreamCustomers {
		return q, invalid.Field("customer_ids", "has %d ids; at most %d are allowed per request", n, maxStreamCustomers)
	}
	for i, c := range q.export.CustomerIDs {
		if err := invalid.ID(fmt.Sprintf("customer_ids[%d]", i), c); err != nil {
			return q, err
		}
	}
	q.scope = newStreamScope(q.export.ShopID, q.export.UpdatedSince, q.export.CustomerIDs)
	if !q.asOf.IsZero() {
		q.scope = computedScope(q.scope, q.asOf)
	}
	if raw := req.GetResumeToken(); raw != "" {
		token, err := decodeResumeToken(raw)
		if err != nil {
			return q, err
		}
		if token.scope != q.scope {
			return q, tokenError("was issued for a request with another shop_id, updated_since, customer_ids, compute or as_of; resume with the same ones, or omit the token to start over")
		}
		q.export.After = &token.after
	}
	return q, nil
}
