package protoconv

import (
	"fmt"
	"math"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/store"
)

// EncodedRecord is a FeatureRecord in protobuf wire format without its
// customer_id and product_id: the form the online cache stores. GetFeatures
// splices it into its response as it is, adding the pair's ids, so a warm
// read decodes and re-encodes no features at all.
type EncodedRecord string

// EncodeRecord encodes a stored row as an EncodedRecord.
func EncodeRecord(r *store.StoredRow) (EncodedRecord, error) {
	rec := Record(r)
	rec.CustomerId, rec.ProductId = "", ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	if err != nil {
		return "", fmt.Errorf("encode record: %w", err)
	}
	return EncodedRecord(b), nil
}

// Decode decodes the record, with the pair's ids.
func (e EncodedRecord) Decode(customerID, productID string) (*featurestorev1.FeatureRecord, error) {
	rec := &featurestorev1.FeatureRecord{}
	if err := proto.Unmarshal([]byte(e), rec); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	rec.CustomerId, rec.ProductId = customerID, productID
	return rec, nil
}

// Upgrade re-encodes a record that an earlier version encoded, which left
// out every feature equal to 0 (proto3 without presence), in the current
// form, where every feature that is not NULL is present; it also returns
// the record's dense row (AppendDense32). An absent nullable feature stays
// NULL, an absent other one is 0: what the earlier encoding meant.
func (e EncodedRecord) Upgrade() (EncodedRecord, string, error) {
	rec, err := e.Decode("", "")
	if err != nil {
		return "", "", err
	}
	row := &store.StoredRow{Vector: Vector(rec.GetFeatures()), AsOf: rec.GetAsOf().AsTime(),
		ComputedAt: rec.GetComputedAt().AsTime(), Version: rec.GetFeaturesVersion()}
	enc, err := EncodeRecord(row)
	if err != nil {
		return "", "", err
	}
	return enc, string(AppendDense32(nil, &row.Vector)), nil
}

// Field numbers of the messages that AppendResult writes by hand; a test
// checks them against the generated descriptors.
const (
	recordCustomerIDField = 1
	recordProductIDField  = 2
	resultStatusField     = 1
	resultRecordField     = 2
	resultVectorField     = 3
	responseResultsField  = 1
)

// AppendResult appends one GetFeaturesResponse.results entry in wire format:
// the status, the record (enc followed by the pair's ids, which protobuf
// merges into one message) and, when not nil, the packed dense vector. enc
// is empty for a pair without a record.
func AppendResult(dst []byte, status featurestorev1.FeatureStatus, enc EncodedRecord, customerID, productID string, vector []float64) []byte {
	recLen := len(enc) + stringFieldLen(recordCustomerIDField, customerID) + stringFieldLen(recordProductIDField, productID)
	resLen := protowire.SizeTag(resultStatusField) + protowire.SizeVarint(uint64(status)) +
		protowire.SizeTag(resultRecordField) + protowire.SizeBytes(recLen)
	if vector != nil {
		resLen += protowire.SizeTag(resultVectorField) + protowire.SizeBytes(8*len(vector))
	}
	dst = protowire.AppendTag(dst, responseResultsField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(resLen))
	dst = protowire.AppendTag(dst, resultStatusField, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(status))
	dst = protowire.AppendTag(dst, resultRecordField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(recLen))
	dst = append(dst, enc...)
	dst = appendStringField(dst, recordCustomerIDField, customerID)
	dst = appendStringField(dst, recordProductIDField, productID)
	if vector != nil {
		dst = protowire.AppendTag(dst, resultVectorField, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(8*len(vector)))
		for _, f := range vector {
			dst = protowire.AppendFixed64(dst, math.Float64bits(f))
		}
	}
	return dst
}

func stringFieldLen(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

func appendStringField(dst []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

// ResponseFromWire returns a GetFeaturesResponse whose results are the
// wire-format entries in b (as AppendResult writes them). They travel as
// the message's unknown fields, which protobuf writes out verbatim: to the
// client they are ordinary results. The server sends b itself and hands it
// to gRPC's buffer pool once sent, so b must be the response's alone.
func ResponseFromWire(b []byte) *featurestorev1.GetFeaturesResponse {
	resp := &featurestorev1.GetFeaturesResponse{}
	resp.ProtoReflect().SetUnknown(b)
	return resp
}

// Valid reports whether e is well-formed protobuf wire data, without
// decoding it: a cached value that fails this is not sent to a client.
func (e EncodedRecord) Valid() bool {
	// A read-only view of the string's bytes: checking a value must not
	// copy it.
	b := unsafe.Slice(unsafe.StringData(string(e)), len(e))
	for len(b) > 0 {
		_, _, n := protowire.ConsumeField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}
