package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/invalid"
)

// Ingester validates and stores batches of interactions; *ingest.Writer
// implements it. Ingest must store all of src or nothing, return an
// *ingest.ValidationError for a batch it rejects, and count rows whose id
// is already stored as duplicates rather than fail.
type Ingester interface {
	Ingest(ctx context.Context, src ingest.Source) (ingest.Result, error)
}

var _ Ingester = (*ingest.Writer)(nil)

// IngestInteractions stores a batch of interactions, all or nothing.
func (s *Service) IngestInteractions(ctx context.Context, req *featurestorev1.IngestInteractionsRequest) (*featurestorev1.IngestInteractionsResponse, error) {
	if s.cfg.Ingester == nil {
		return nil, s.status(ctx, notConfigured("IngestInteractions"))
	}
	res, err := s.cfg.Ingester.Ingest(ctx, interactionSource(req.GetInteractions()))
	if err != nil {
		return nil, s.status(ctx, requestError(err))
	}
	return &featurestorev1.IngestInteractionsResponse{Inserted: res.Inserted, Duplicates: res.Duplicates}, nil
}

// requestError names the fields of an *ingest.ValidationError as paths in
// the request, such as "interactions[3].created_at".
func requestError(err error) error {
	var verr *ingest.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	list := &invalid.List{More: verr.Total - len(verr.Violations)}
	for _, v := range verr.Violations {
		field := "interactions"
		if v.Row >= 0 {
			field = fmt.Sprintf("interactions[%d].%s", v.Row, v.Field)
		}
		list.Errors = append(list.Errors, &invalid.Error{Field: field, Reason: v.Reason})
	}
	return list
}

// interactionSource reads a request's interactions in place: the write
// path copies each message's fields straight into COPY, without building a
// second batch.
type interactionSource []*featurestorev1.Interaction

func (s interactionSource) Len() int { return len(s) }

func (s interactionSource) At(i int) (ingest.Interaction, error) {
	m := s[i]
	if m == nil {
		return ingest.Interaction{}, nil
	}
	r := ingest.Interaction{
		ID:           m.Id,
		ShopID:       m.ShopId,
		CustomerID:   m.CustomerId,
		ProductID:    m.ProductId,
		EventType:    m.EventType,
		PageType:     m.PageType,
		DeviceType:   m.DeviceType,
		ReferrerType: m.ReferrerType,
		ViewDuration: m.ViewDuration,
		ClientID:     m.ClientId,
	}
	if md := m.GetMetadata(); md != nil {
		// protojson writes non-ASCII characters as UTF-8, and refuses
		// values JSON cannot hold (NaN, infinities).
		b, err := protojson.Marshal(md)
		if err != nil {
			return r, invalid.Field("metadata", "cannot be written as JSON: %v", err)
		}
		r.Metadata = b
	}
	if ts := m.CreatedAt; ts != nil {
		if err := ts.CheckValid(); err != nil {
			return r, invalid.Field("created_at", "is not a valid timestamp: %v", err)
		}
		r.CreatedAt = ts.AsTime()
	}
	return r, nil
}
