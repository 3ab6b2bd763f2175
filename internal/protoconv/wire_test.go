package protoconv

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/store"
)

// TestResponseFromWire builds a response by hand and checks that it decodes
// to exactly the message built the ordinary way.
func TestResponseFromWire(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 2, 3, 4, 5000, time.UTC)
	row := &store.StoredRow{
		CustomerID: "c1", ProductID: "p1", AsOf: at, ComputedAt: at.Add(time.Minute), Version: features.Version,
		Vector: features.Vector{TotalViews: 4, ViewDurationAvg: features.Some(630.0), PreferredDevice: features.Some("mobile"),
			FirstViewDate: features.Some(at.Add(-time.Hour)), PurchaseRecency: features.Some(int64(3))},
	}
	enc, err := EncodeRecord(row)
	if err != nil {
		t.Fatal(err)
	}
	vector := []float64{1, math.NaN(), -2.5}
	var b []byte
	b = AppendResult(b, featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND, enc, "c1", "p1", vector)
	b = AppendResult(b, featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND, "", "c1", "p2", nil)
	b = AppendResult(b, featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND, enc, "c1", "p1", nil)

	wire, err := proto.Marshal(ResponseFromWire(b))
	if err != nil {
		t.Fatal(err)
	}
	got := &featurestorev1.GetFeaturesResponse{}
	if err := proto.Unmarshal(wire, got); err != nil {
		t.Fatal(err)
	}
	want := &featurestorev1.GetFeaturesResponse{Results: []*featurestorev1.FeatureResult{
		{Status: featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND, Record: Record(row), Vector: vector},
		{Status: featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND, Record: &featurestorev1.FeatureRecord{CustomerId: "c1", ProductId: "p2"}},
		{Status: featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND, Record: Record(row)},
	}}
	if !proto.Equal(got, want) {
		t.Errorf("decoded\n%v\nwant\n%v", got, want)
	}
	if len(got.ProtoReflect().GetUnknown()) != 0 {
		t.Error("decoded response has unknown fields")
	}
	if !enc.Valid() || EncodedRecord("\xff\xff").Valid() {
		t.Error("Valid misjudges a record")
	}
	dec, err := enc.Decode("c1", "p1")
	if err != nil || !proto.Equal(dec, Record(row)) {
		t.Errorf("Decode = %v, %v", dec, err)
	}
}

// TestWireFieldNumbers ties the hand-written field numbers to the proto.
func TestWireFieldNumbers(t *testing.T) {
	t.Parallel()
	num := func(m proto.Message, name string) protoreflect.FieldNumber {
		f := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
		if f == nil {
			t.Fatalf("%T has no field %s", m, name)
		}
		return f.Number()
	}
	for _, c := range []struct {
		got  protoreflect.FieldNumber
		want int
	}{
		{num(&featurestorev1.FeatureRecord{}, "customer_id"), recordCustomerIDField},
		{num(&featurestorev1.FeatureRecord{}, "product_id"), recordProductIDField},
		{num(&featurestorev1.FeatureResult{}, "status"), resultStatusField},
		{num(&featurestorev1.FeatureResult{}, "record"), resultRecordField},
		{num(&featurestorev1.FeatureResult{}, "vector"), resultVectorField},
		{num(&featurestorev1.GetFeaturesResponse{}, "results"), responseResultsField},
	} {
		if int(c.got) != c.want {
			t.Errorf("field number %d, hand-written %d", c.got, c.want)
		}
	}
}

// TestMatrixFieldNumbers ties MatrixWriter's field numbers to the proto.
func TestMatrixFieldNumbers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		m    proto.Message
		name string
		want int
	}{
		{&featurestorev1.GetFeaturesResponse{}, "matrix", responseMatrixField},
		{&featurestorev1.FeatureMatrix{}, "rows", matrixRowsField},
		{&featurestorev1.FeatureMatrix{}, "columns", matrixColumnsField},
		{&featurestorev1.FeatureMatrix{}, "values", matrixValuesField},
		{&featurestorev1.FeatureMatrix{}, "statuses", matrixStatusesField},
		{&featurestorev1.FeatureMatrix{}, "computed_at_unix_micros", matrixComputedAtField},
		{&featurestorev1.FeatureMatrix{}, "features_version", matrixFeaturesVersionField},
	} {
		f := c.m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(c.name))
		if f == nil || int(f.Number()) != c.want {
			t.Errorf("%T.%s: %v, hand-written %d", c.m, c.name, f, c.want)
		}
	}
}

// TestMatrixWriter writes a matrix by hand and checks it decodes to the
// message built the ordinary way.
func TestMatrixWriter(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 2, 3, 4, 5000, time.UTC)
	v := features.Vector{TotalViews: 4, ViewDurationAvg: features.Some(630.0), PreferredDevice: features.Some("mobile")}
	dense := string(AppendDense32(nil, &v))
	w := NewMatrixWriter(3, nil)
	w.Found(dense, at.UnixMicro())
	w.NotFound()
	w.FoundVector(&v, 7)
	wire, err := proto.Marshal(w.Response())
	if err != nil {
		t.Fatal(err)
	}
	got := &featurestorev1.GetFeaturesResponse{}
	if err := proto.Unmarshal(wire, got); err != nil {
		t.Fatal(err)
	}
	want := &featurestorev1.GetFeaturesResponse{Matrix: &featurestorev1.FeatureMatrix{
		Rows: 3, Columns: int32(features.Count()), Values: []byte(dense + nanRow + dense), FeaturesVersion: features.Version,
		Statuses: []featurestorev1.FeatureStatus{featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND,
			featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND, featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND},
		ComputedAtUnixMicros: []int64{at.UnixMicro(), 0, 7},
	}}
	if !proto.Equal(got, want) || len(got.ProtoReflect().GetUnknown()) != 0 {
		t.Errorf("decoded\n%v\nwant\n%v", got, want)
	}
	// The dense row is the float64 dense vector in float32.
	for i, f := range v.AppendDense(nil) {
		g := math.Float32frombits(binary.LittleEndian.Uint32([]byte(dense)[4*i:]))
		if g != float32(f) && !(math.IsNaN(f) && g != g) {
			t.Errorf("column %d: %v, want %v", i, g, f)
		}
	}
}

// earlierRecord is a record as the encoding before explicit presence wrote
// it (EncodeRecord of that version): total_views, cart_adds and the
// nullable view_duration_avg and view_recency are 0, unique_views 3,
// view_frequency 0.5, preferred_device "mobile", purchase_recency NULL.
const earlierRecord = "1a2c100319000000000000000021000000000000e03f82010908c8cdeec106108827900100c201066d6f62696c65220908d8e9eec1061088272a090894eaeec1061088273001"

// TestDecodeEarlierEncoding decodes bytes written before every feature
// had presence with the current types: the same values (an absent
// non-nullable feature is 0, an absent nullable one NULL), and Upgrade
// re-encodes them with the zeros present.
func TestDecodeEarlierEncoding(t *testing.T) {
	t.Parallel()
	b, err := hex.DecodeString(earlierRecord)
	if err != nil {
		t.Fatal(err)
	}
	old := EncodedRecord(b)
	rec, err := old.Decode("c", "p")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 1, 2, 3, 4, 5000, time.UTC)
	want := features.Vector{UniqueViews: 3, ViewFrequency: 0.5, ViewDurationAvg: features.Some(0.0), PreferredDevice: features.Some("mobile"),
		FirstViewDate: features.Some(at.Add(-time.Hour)), ViewRecency: features.Some(int64(0))}
	f := rec.GetFeatures()
	if got := Vector(f); !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v\nwant %+v", got, want)
	}
	if f.TotalViews != nil || f.CartAdds != nil {
		t.Error("the earlier encoding has zeros present")
	}
	if !rec.GetComputedAt().AsTime().Equal(at.Add(time.Minute)) || rec.GetFeaturesVersion() != features.Version {
		t.Errorf("record metadata: %v", rec)
	}
	up, dense, err := old.Upgrade()
	if err != nil {
		t.Fatal(err)
	}
	again, err := up.Decode("c", "p")
	if err != nil {
		t.Fatal(err)
	}
	if g := again.GetFeatures(); g.TotalViews == nil || g.GetTotalViews() != 0 || g.CartAdds == nil || g.PurchaseRecency != nil ||
		!reflect.DeepEqual(Vector(g), want) || !proto.Equal(again.GetComputedAt(), rec.GetComputedAt()) {
		t.Errorf("upgraded %v", again)
	}
	if dense != string(AppendDense32(nil, &want)) {
		t.Error("upgraded dense row differs")
	}
}
