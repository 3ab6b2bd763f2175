package server_test

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestGetFeaturesMatrix asks the same pairs (a NOT_FOUND one and a repeat
// among them) for records with vectors and for a matrix, from Postgres and
// from a cache, cold and warm: each matrix row equals its record's dense
// vector value by value (as float32; NaN for NULL, everything NaN for
// NOT_FOUND), with the record's status and computed_at, in the order
// asked, in the layout that DescribeFeatures publishes.
func TestGetFeaturesMatrix(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		redis bool
	}{{"postgres", false}, {"cache", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			redisURL := ""
			if c.redis {
				redisURL = testenv.Redis(t)
			}
			o := startOnline(t, redisURL, nil)
			ctx := context.Background()
			desc, err := o.client.DescribeFeatures(ctx, &featurestorev1.DescribeFeaturesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			one := &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: cust1000,
				ProductIds: []string{product(9010), product(9009), product(9000), product(9010)}}
			keys := &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", Keys: []*featurestorev1.FeatureKey{
				{CustomerId: cust1003, ProductId: product(9000)}, {CustomerId: cust1000, ProductId: product(9000)},
				{CustomerId: cust1003, ProductId: product(9009)}, {CustomerId: cust1000, ProductId: product(9010)},
			}}
			for _, req := range []*featurestorev1.GetFeaturesRequest{one, keys} {
				// The first matrix call fills the cache, the second reads it.
				for _, round := range []string{"first", "again"} {
					before := o.queries.n.Load()
					m := getMatrix(t, o.client, req)
					queries := o.queries.n.Load() - before
					if c.redis && round == "again" && queries != 0 {
						t.Errorf("%s matrix read from a warm cache cost %d queries", round, queries)
					}
					records := getRecords(t, o.client, req)
					checkMatrix(t, desc, records, m)
				}
			}
		})
	}
}

func getMatrix(t *testing.T, client featurestorev1.FeatureStoreServiceClient, req *featurestorev1.GetFeaturesRequest) *featurestorev1.FeatureMatrix {
	t.Helper()
	r := &featurestorev1.GetFeaturesRequest{ShopId: req.GetShopId(), CustomerId: req.GetCustomerId(), ProductIds: req.GetProductIds(),
		Keys: req.GetKeys(), Format: featurestorev1.Format_FORMAT_MATRIX}
	resp, err := client.GetFeatures(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResults()) != 0 || resp.GetMatrix() == nil {
		t.Fatalf("matrix answer has %d results and matrix %v", len(resp.GetResults()), resp.GetMatrix() != nil)
	}
	return resp.GetMatrix()
}

func getRecords(t *testing.T, client featurestorev1.FeatureStoreServiceClient, req *featurestorev1.GetFeaturesRequest) []*featurestorev1.FeatureResult {
	t.Helper()
	r := &featurestorev1.GetFeaturesRequest{ShopId: req.GetShopId(), CustomerId: req.GetCustomerId(), ProductIds: req.GetProductIds(),
		Keys: req.GetKeys(), IncludeVector: true, Format: featurestorev1.Format_FORMAT_RECORDS}
	resp, err := client.GetFeatures(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMatrix() != nil {
		t.Fatal("a records answer has a matrix")
	}
	return resp.GetResults()
}

// checkMatrix compares a matrix with the records answer of the same pairs.
func checkMatrix(t *testing.T, desc *featurestorev1.DescribeFeaturesResponse, records []*featurestorev1.FeatureResult, m *featurestorev1.FeatureMatrix) {
	t.Helper()
	cols := len(desc.GetFeatures())
	if int(m.GetRows()) != len(records) || int(m.GetColumns()) != cols || m.GetFeaturesVersion() != desc.GetFeaturesVersion() ||
		len(m.GetValues()) != 4*len(records)*cols || len(m.GetStatuses()) != len(records) || len(m.GetComputedAtUnixMicros()) != len(records) {
		t.Fatalf("matrix %d x %d (version %d, %d bytes, %d statuses, %d instants); want %d x %d (version %d)",
			m.GetRows(), m.GetColumns(), m.GetFeaturesVersion(), len(m.GetValues()), len(m.GetStatuses()), len(m.GetComputedAtUnixMicros()),
			len(records), cols, desc.GetFeaturesVersion())
	}
	for i, r := range records {
		if m.GetStatuses()[i] != r.GetStatus() {
			t.Errorf("row %d: status %s, records say %s", i, m.GetStatuses()[i], r.GetStatus())
		}
		wantAt := int64(0)
		if r.GetStatus() == featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND {
			wantAt = r.GetRecord().GetComputedAt().AsTime().UnixMicro()
		}
		if got := m.GetComputedAtUnixMicros()[i]; got != wantAt {
			t.Errorf("row %d: computed_at %d, records say %d", i, got, wantAt)
		}
		vec := r.GetVector()
		for _, fd := range desc.GetFeatures() {
			j := int(fd.GetDenseIndex())
			got := math.Float32frombits(binary.LittleEndian.Uint32(m.GetValues()[4*(i*cols+j):]))
			want := float32(math.NaN())
			if r.GetStatus() == featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND {
				want = float32(vec[j])
			}
			if !(got == want || isNaN32(got) && isNaN32(want)) {
				t.Errorf("row %d (%s) %s: %v, records say %v", i, r.GetRecord().GetProductId(), fd.GetName(), got, want)
			}
		}
	}
}

func isNaN32(f float32) bool { return f != f }
