package server

import (
	"context"

	"google.golang.org/grpc/mem"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
)

// PairReader answers online reads: Postgres (*store.Store), or a cache in
// front of it (*cache.Cache), which wraps the same interface.
type PairReader interface {
	// ReadPairs must answer each lookup with a record of each of its
	// products in the order asked (repeats included), not found where the
	// pair has no stored row, never older than the table. Lookups name
	// distinct customers.
	ReadPairs(ctx context.Context, shopID string, lookups []store.Lookup) ([][]store.Record, error)
}

var (
	_ PairReader = (*store.Store)(nil)
	_ PairReader = (*cache.Cache)(nil)
)

const (
	// maxGetKeys bounds the pairs of one GetFeatures call.
	maxGetKeys = 1000
)

// GetFeatures answers the pairs asked for, in the order asked. A pair
// without a stored row is a NOT_FOUND result, not an error.
func (s *Service) GetFeatures(ctx context.Context, req *featurestorev1.GetFeaturesRequest) (*featurestorev1.GetFeaturesResponse, error) {
	if s.cfg.Reader == nil {
		return nil, s.status(ctx, notConfigured("GetFeatures"))
	}
	lookups, positions, err := planLookups(req)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	var resp *featurestorev1.GetFeaturesResponse
	answer := func(records [][]store.Record) error {
		if req.GetFormat() == featurestorev1.Format_FORMAT_MATRIX {
			resp = matrixResponse(lookups, positions, records)
			return nil
		}
		var err error
		resp, err = recordsResponse(lookups, positions, records, req.GetIncludeVector())
		return err
	}
	// A reader that lends its records saves copying them: the answer is
	// written before it takes them back.
	if lender, ok := s.cfg.Reader.(pairLender); ok {
		err = lender.LendPairs(ctx, req.GetShopId(), lookups, answer)
	} else {
		var records [][]store.Record
		if records, err = s.cfg.Reader.ReadPairs(ctx, req.GetShopId(), lookups); err == nil {
			err = answer(records)
		}
	}
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return resp, nil
}

// pairLender is a PairReader that can lend the records of a read for as
// long as a function runs (*cache.Cache).
type pairLender interface {
	LendPairs(ctx context.Context, shopID string, lookups []store.Lookup, fn func([][]store.Record) error) error
}

var _ pairLender = (*cache.Cache)(nil)

// answerBuffers holds the buffers answers are written in. An answer goes
// to gRPC as the bytes it was written in (codec.Marshal), and gRPC returns
// them here once they are sent.
var answerBuffers = mem.DefaultBufferPool()

// newAnswer returns an empty buffer with room for size bytes.
func newAnswer(size int) []byte {
	return (*answerBuffers.Get(size))[:0]
}

// recordsResponse writes the answer as records, in wire format: cached
// records go into it as they are, without being decoded and encoded again;
// rows read from Postgres are encoded once.
func recordsResponse(lookups []store.Lookup, positions []position, records [][]store.Record, includeVector bool) (*featurestorev1.GetFeaturesResponse, error) {
	// Sized so that the answer is written without growing the buffer: a
	// result is its record, its ids and a few bytes of tags and lengths.
	size := 0
	for _, pos := range positions {
		l := lookups[pos.lookup]
		rec := &records[pos.lookup][pos.product]
		size += len(rec.Encoded) + len(l.CustomerID) + len(l.ProductIDs[pos.product]) + 24
		if rec.Row != nil {
			size += 512
		}
		if includeVector {
			size += 8*features.Count() + 8
		}
	}
	wire := newAnswer(size)
	for _, pos := range positions {
		l := lookups[pos.lookup]
		product := l.ProductIDs[pos.product]
		rec := &records[pos.lookup][pos.product]
		if !rec.Found() {
			wire = protoconv.AppendResult(wire, featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND, "", l.CustomerID, product, nil)
			continue
		}
		enc := protoconv.EncodedRecord(rec.Encoded)
		if rec.Row != nil {
			var err error
			if enc, err = protoconv.EncodeRecord(rec.Row); err != nil {
				return nil, err
			}
		}
		var vector []float64
		if includeVector {
			var err error
			if vector, err = denseVector(rec.Row, enc); err != nil {
				return nil, err
			}
		}
		wire = protoconv.AppendResult(wire, featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND, enc, l.CustomerID, product, vector)
	}
	return protoconv.ResponseFromWire(wire), nil
}

// matrixResponse writes the answer as a matrix: a cached record's dense
// row goes in as the cache holds it, a row read from Postgres is converted
// once.
func matrixResponse(lookups []store.Lookup, positions []position, records [][]store.Record) *featurestorev1.GetFeaturesResponse {
	w := protoconv.NewMatrixWriter(len(positions), newAnswer(protoconv.MatrixAnswerLen(len(positions))))
	for _, pos := range positions {
		switch rec := &records[pos.lookup][pos.product]; {
		case rec.Row != nil:
			w.FoundVector(&rec.Row.Vector, rec.Row.ComputedAt.UnixMicro())
		case rec.Encoded != "":
			w.Found(rec.Dense, rec.ComputedAtMicros)
		default:
			w.NotFound()
		}
	}
	return w.Response()
}

// denseVector returns a record's features in the dense layout: from the
// row when it was read decoded, else from its encoding.
func denseVector(row *store.StoredRow, enc protoconv.EncodedRecord) ([]float64, error) {
	if row != nil {
		return row.Vector.AppendDense(make([]float64, 0, features.Count())), nil
	}
	full, err := enc.Decode("", "")
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
	switch f := req.GetFormat(); f {
	case featurestorev1.Format_FORMAT_UNSPECIFIED, featurestorev1.Format_FORMAT_RECORDS, featurestorev1.Format_FORMAT_MATRIX:
	default:
		return nil, nil, invalid.Field("format", "is %d, which is no Format; use FORMAT_RECORDS (the default) or FORMAT_MATRIX", int32(f))
	}
	keys := req.GetKeys()
	switch {
	case len(keys) > 0 && (req.GetCustomerId() != "" || len(req.GetProductIds()) > 0):
		return nil, nil, invalid.Field("keys", "give either keys or customer_id with product_ids, not both")
	case len(keys) > 0:
		return planKeys(keys)
	}
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
	positions := make([]position, len(products))
	for i, p := range products {
		if err := invalid.IDAt("product_ids[%d]", i, p); err != nil {
			return nil, nil, err
		}
		positions[i] = position{product: i}
	}
	// One customer: the request's own list of products is the lookup.
	return []store.Lookup{{CustomerID: req.GetCustomerId(), ProductIDs: products}}, positions, nil
}

// planKeys is planLookups for a request that gives keys.
func planKeys(keys []*featurestorev1.FeatureKey) ([]store.Lookup, []position, error) {
	if len(keys) > maxGetKeys {
		return nil, nil, invalid.Field("keys", "has %d pairs; at most %d are allowed per call", len(keys), maxGetKeys)
	}
	byCustomer := map[string]int{}
	var lookups []store.Lookup
	positions := make([]position, 0, len(keys))
	for i, k := range keys {
		if err := invalid.IDAt("keys[%d].customer_id", i, k.GetCustomerId()); err != nil {
			return nil, nil, err
		}
		if err := invalid.IDAt("keys[%d].product_id", i, k.GetProductId()); err != nil {
			return nil, nil, err
		}
		customer := k.GetCustomerId()
		j, ok := byCustomer[customer]
		if !ok {
			j = len(lookups)
			byCustomer[customer] = j
			lookups = append(lookups, store.Lookup{CustomerID: customer})
		}
		positions = append(positions, position{lookup: j, product: len(lookups[j].ProductIDs)})
		lookups[j].ProductIDs = append(lookups[j].ProductIDs, k.GetProductId())
	}
	return lookups, positions, nil
}
