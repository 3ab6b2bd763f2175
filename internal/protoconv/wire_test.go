package protoconv

import (
	"math"
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
