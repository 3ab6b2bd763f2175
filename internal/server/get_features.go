package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
)

// FeatureReader answers online reads; *cache.Reader implements it. For each
// lookup it returns the encoded record of each product in the order asked,
// "" where the pair has no stored row.
type FeatureReader interface {
	ReadFeatures(ctx context.Context, shopID string, lookups []store.Lookup) ([][]protoconv.EncodedRecord, error)
}

// WithReader makes s answer GetFeatures through r, and returns s.
func (s *Service) WithReader(r FeatureReader) *Service {
	s.reader = r
	return s
}

const (
	// maxGetKeys bounds the pairs of one GetFeatures call.
	maxGetKeys = 1000
)

// GetFeatures answers the pairs asked for, in the order asked. A pair
// without a stored row is a NOT_FOUND result, not an error.
func (s *Service) GetFeatures(ctx context.Context, req *featurestorev1.GetFeaturesRequest) (*featurestorev1.GetFeaturesResponse, error) {
	if s.reader == nil {
		return nil, status.Error(codes.Unimplemented, "GetFeatures is not enabled on this server")
	}
	lookups, positions, err := planLookups(req)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	records, err := s.reader.ReadFeatures(ctx, req.GetShopId(), lookups)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	// The response is written in wire format: cached records go into it as
	// they are, without being decoded and encoded again.
	size := 0
	for _, recs := range records {
		for _, rec := range recs {
			size += len(rec) + 64
		}
	}
	wire := make([]byte, 0, size+len(positions)*16)
	for _, pos := range positions {
		l := lookups[pos.lookup]
		product := l.ProductIDs[pos.product]
		rec := records[pos.lookup][pos.product]
		if rec == "" {
			wire = protoconv.AppendResult(wire, featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND, "", l.CustomerID, product, nil)
			continue
		}
		var vector []float64
		if req.GetIncludeVector() {
			if vector, err = denseVector(rec); err != nil {
				return nil, s.status(ctx, err)
			}
		}
		wire = protoconv.AppendResult(wire, featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND, rec, l.CustomerID, product, vector)
	}
	return protoconv.ResponseFromWire(wire), nil
}

// denseVector decodes a record's features into the dense layout.
func denseVector(rec protoconv.EncodedRecord) ([]float64, error) {
	full, err := rec.Decode("", "")
	if err != nil {
		return nil, err
	}
	v := protoconv.Vector(full.GetFeatures())
	return v.AppendDense(make([]float64, 0, features.Count())), nil
}

// position locates one asked pair in the lookups.
type position struct{ lookup, product int }

// planLookups validates a request and groups its pairs by customer, one
// lookup per customer in order of first appearance, remembering where each
// asked pair went.
func planLookups(req *featurestorev1.GetFeaturesRequest) ([]store.Lookup, []position, error) {
	if err := invalid.ID("shop_id", req.GetShopId()); err != nil {
		return nil, nil, err
	}
	byCustomer := map[string]int{}
	var lookups []store.Lookup
	var positions []position
	add := func(customer, product string) {
		i, ok := byCustomer[customer]
		if !ok {
			i = len(lookups)
			byCustomer[customer] = i
			lookups = append(lookups, store.Lookup{CustomerID: customer})
		}
		positions = append(positions, position{lookup: i, product: len(lookups[i].ProductIDs)})
		lookups[i].ProductIDs = append(lookups[i].ProductIDs, product)
	}
	keys := req.GetKeys()
	switch {
	case len(keys) > 0 && (req.GetCustomerId() != "" || len(req.GetProductIds()) > 0):
		return nil, nil, invalid.Field("keys", "give either keys or customer_id with product_ids, not both")
	case len(keys) > 0:
		if len(keys) > maxGetKeys {
			return nil, nil, invalid.Field("keys", "has %d pairs; at most %d are allowed per call", len(keys), maxGetKeys)
		}
		for i, k := range keys {
			if err := invalid.ID(fmt.Sprintf("keys[%d].customer_id", i), k.GetCustomerId()); err != nil {
				return nil, nil, err
			}
			if err := invalid.ID(fmt.Sprintf("keys[%d].product_id", i), k.GetProductId()); err != nil {
				return nil, nil, err
			}
			add(k.GetCustomerId(), k.GetProductId())
		}
	default:
		if err := invalid.ID("customer_id", req.GetCustomerId()); err != nil {
			return nil, nil, err
		}
		products := req.GetProductIds()
		switch {
		case len(products) == 0:
			return nil, nil, invalid.Field("product_ids", "is empty; ask for 1 to %d products (or use keys)", maxGetKeys)
		case len(products) > maxGetKeys:
			return nil, nil, invalid.Field("product_ids", "has %d products; at most %d are allowed per call", len(products), maxGetKeys)
		}
		for i, p := range products {
			if err := invalid.ID(fmt.Sprintf("product_ids[%d]", i), p); err != nil {
				return nil, nil, err
			}
			add(req.GetCustomerId(), p)
		}
	}
	return lookups, positions, nil
}
