package server_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestFeaturesMessageFollowsCatalog proves the API's Features message has one
// field per catalogue feature, with the same name, in the same order, with
// presence on every field, so that a feature equal to 0 is told from an
// absent (NULL) one.
func TestFeaturesMessageFollowsCatalog(t *testing.T) {
	t.Parallel()
	fields := (&featurestorev1.Features{}).ProtoReflect().Descriptor().Fields()
	catalog := features.Catalog()
	if fields.Len() != len(catalog) {
		t.Fatalf("Features has %d fields, the catalogue %d features", fields.Len(), len(catalog))
	}
	kinds := map[features.Type][]protoreflect.Kind{
		features.TypeInt:       {protoreflect.Int32Kind, protoreflect.Int64Kind},
		features.TypeFloat:     {protoreflect.DoubleKind},
		features.TypeTimestamp: {protoreflect.MessageKind},
		features.TypeString:    {protoreflect.StringKind},
	}
	for i, d := range catalog {
		f := fields.Get(i)
		if string(f.Name()) != d.Name {
			t.Errorf("field %d is %s, the catalogue has %s", i, f.Name(), d.Name)
			continue
		}
		if !f.HasPresence() {
			t.Errorf("%s has no presence", d.Name)
		}
		ok := false
		for _, k := range kinds[d.Type] {
			ok = ok || f.Kind() == k
		}
		if !ok {
			t.Errorf("%s: proto kind %s does not fit type %s", d.Name, f.Kind(), d.Type)
		}
	}
}

func TestDescribeFeatures(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	client := startServer(t, pool, nil)
	resp, err := client.DescribeFeatures(context.Background(), &featurestorev1.DescribeFeaturesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetFeaturesVersion() != features.Version {
		t.Errorf("features_version = %d, want %d", resp.GetFeaturesVersion(), features.Version)
	}
	catalog := features.Catalog()
	if len(resp.GetFeatures()) != len(catalog) {
		t.Fatalf("%d features described, want %d", len(resp.GetFeatures()), len(catalog))
	}
	for i, fd := range resp.GetFeatures() {
		d := catalog[i]
		if fd.GetName() != d.Name || fd.GetNullable() != d.Nullable || fd.GetDenseIndex() != int32(i) || fd.GetDescription() == "" {
			t.Errorf("feature %d: %v does not describe %+v", i, fd, d)
		}
		if fd.Min != nil != d.Min.Valid || (d.Min.Valid && fd.GetMin() != d.Min.V) {
			t.Errorf("%s: min %v, want %+v", d.Name, fd.Min, d.Min)
		}
		if fd.Max != nil != d.Max.Valid || (d.Max.Valid && fd.GetMax() != d.Max.V) {
			t.Errorf("%s: max %v, want %+v", d.Name, fd.Max, d.Max)
		}
	}
}
