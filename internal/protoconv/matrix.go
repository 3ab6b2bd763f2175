package protoconv

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
)

// DenseLen is the length in bytes of one row of a matrix answer: the dense
// layout's features as little-endian float32.
var DenseLen = 4 * features.Count()

// AppendDense32 appends v's dense form (features.Vector.AppendDense) as
// DenseLen bytes of little-endian float32: one row of a matrix answer, in
// the form the cache stores beside the record.
func AppendDense32(dst []byte, v *features.Vector) []byte {
	var buf [64]float64
	for _, f := range v.AppendDense(buf[:0]) {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(f)))
	}
	return dst
}

// nanRow is the row of a pair without a stored row: every feature NaN.
var nanRow = func() string {
	b := make([]byte, 0, DenseLen)
	for range features.Count() {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(math.NaN())))
	}
	return string(b)
}()

// Field numbers of FeatureMatrix and of GetFeaturesResponse.matrix, which
// MatrixWriter writes by hand; a test checks them against the generated
// descriptors.
const (
	responseMatrixField        = 2
	matrixRowsField            = 1
	matrixColumnsField         = 2
	matrixValuesField          = 3
	matrixStatusesField        = 4
	matrixComputedAtField      = 5
	matrixFeaturesVersionField = 6
)

// MatrixWriter writes a GetFeaturesResponse whose matrix answers a known
// number of rows, in wire format, into one buffer sized in advance: each
// row's dense values go into the response as they are given (a cached
// row's bytes are copied, never decoded). Rows are added in the order
// asked, exactly as many as NewMatrixWriter was told.
type MatrixWriter struct {
	buf []byte
	// Offsets in buf of the values, the statuses and the computed_at
	// instants of row 0.
	values, statuses, computedAt int
	rows, added                  int
}

// MatrixAnswerLen is the length of the answer a MatrixWriter of rows rows
// writes.
func MatrixAnswerLen(rows int) int {
	msgLen := matrixLen(rows)
	return protowire.SizeTag(responseMatrixField) + protowire.SizeBytes(msgLen)
}

// matrixLen is the length of the FeatureMatrix message of rows rows.
func matrixLen(rows int) int {
	var scratch [64]byte
	msgLen := len(matrixHead(scratch[:0], rows)) + rows*DenseLen
	if rows > 0 {
		// Statuses are 1 and 2: one byte each.
		msgLen += protowire.SizeTag(matrixStatusesField) + protowire.SizeBytes(rows) +
			protowire.SizeTag(matrixComputedAtField) + protowire.SizeBytes(8*rows)
	}
	return msgLen
}

// matrixHead appends the fields of a matrix of rows rows that come before
// its values, and the values' tag and length.
func matrixHead(b []byte, rows int) []byte {
	b = protowire.AppendTag(b, matrixRowsField, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(rows))
	b = protowire.AppendTag(b, matrixColumnsField, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(features.Count()))
	b = protowire.AppendTag(b, matrixFeaturesVersionField, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(features.Version))
	b = protowire.AppendTag(b, matrixValuesField, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(rows*DenseLen))
}

// NewMatrixWriter returns a writer of a matrix of rows rows, which writes
// into buf's storage when it has room for the whole answer.
func NewMatrixWriter(rows int, buf []byte) *MatrixWriter {
	msgLen := matrixLen(rows)
	b := buf[:0]
	if size := protowire.SizeTag(responseMatrixField) + protowire.SizeBytes(msgLen); cap(b) < size {
		b = make([]byte, 0, size)
	}
	b = protowire.AppendTag(b, responseMatrixField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(msgLen))
	b = matrixHead(b, rows)
	w := &MatrixWriter{values: len(b), rows: rows}
	b = b[:len(b)+rows*DenseLen]
	if rows > 0 {
		b = protowire.AppendTag(b, matrixStatusesField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(rows))
		w.statuses = len(b)
		b = b[:len(b)+rows]
		b = protowire.AppendTag(b, matrixComputedAtField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(8*rows))
		w.computedAt = len(b)
		b = b[:len(b)+8*rows]
	}
	w.buf = b
	return w
}

// Found adds a row with a stored row: dense is its DenseLen bytes
// (AppendDense32), computedAtMicros when the row was written, in Unix
// microseconds.
func (w *MatrixWriter) Found(dense string, computedAtMicros int64) {
	if len(dense) != DenseLen {
		panic("protoconv: a dense row of the wrong length")
	}
	copy(w.buf[w.values+w.added*DenseLen:], dense)
	w.row(featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND, computedAtMicros)
}

// FoundVector adds a row with a stored row read decoded.
func (w *MatrixWriter) FoundVector(v *features.Vector, computedAtMicros int64) {
	AppendDense32(w.buf[w.values+w.added*DenseLen:][:0], v)
	w.row(featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND, computedAtMicros)
}

// NotFound adds a row without a stored row: NaN everywhere.
func (w *MatrixWriter) NotFound() {
	copy(w.buf[w.values+w.added*DenseLen:], nanRow)
	w.row(featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND, 0)
}

func (w *MatrixWriter) row(status featurestorev1.FeatureStatus, computedAtMicros int64) {
	if w.added == w.rows {
		panic("protoconv: more matrix rows than announced")
	}
	w.buf[w.statuses+w.added] = byte(status)
	binary.LittleEndian.PutUint64(w.buf[w.computedAt+8*w.added:], uint64(computedAtMicros))
	w.added++
}

// Response returns the response, which carries the matrix as unknown
// fields that protobuf writes out verbatim (see ResponseFromWire). It
// panics when fewer rows were added than announced.
func (w *MatrixWriter) Response() *featurestorev1.GetFeaturesResponse {
	if w.added != w.rows {
		panic("protoconv: fewer matrix rows than announced")
	}
	return ResponseFromWire(w.buf)
}
