package protoconv

import (
	"strconv"
	"testing"
	"time"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/store"
)

// benchRow is a stored row whose every feature has a value, as a pair
// with views, cart activity and an order has: the largest record there is.
func benchRow() *store.StoredRow {
	asOf := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	view := func(id string, daysAgo int, page, device, referrer string, seconds float64) features.Event {
		return features.Event{ID: id, CreatedAt: asOf.AddDate(0, 0, -daysAgo), EventType: "product_viewed",
			PageType: page, DeviceType: device, ReferrerType: referrer, ViewDuration: seconds}
	}
	events := []features.Event{
		view("e1", 40, "search", "mobile", "social", 30),
		view("e2", 12, "collection", "desktop", "direct", 95),
		view("e3", 3, "product", "mobile", "search_engine", 12),
		{ID: "e4", CreatedAt: asOf.AddDate(0, 0, -3), EventType: "product_added_to_cart"},
	}
	lines := []features.OrderLine{{OrderID: "o1", OrderCreatedAt: asOf.AddDate(0, 0, -2), Quantity: features.Some(int64(2)), Price: features.Some(19.5)}}
	return &store.StoredRow{
		CustomerID: "gid://shopify/Customer/7234567890123", ProductID: "gid://shopify/Product/8123456789012",
		Vector: features.Compute(asOf, events, lines), AsOf: asOf, ComputedAt: asOf.Add(time.Minute), Version: features.Version,
	}
}

// BenchmarkAppendResult writes the results of one GetFeatures response of
// one customer x 100 products, the warm read's serialisation: records as
// the cache holds them spliced in, 80 found and 20 not, with and without
// the dense vector.
func BenchmarkAppendResult(b *testing.B) {
	row := benchRow()
	enc, err := EncodeRecord(row)
	if err != nil {
		b.Fatal(err)
	}
	products := make([]string, 100)
	for i := range products {
		products[i] = "gid://shopify/Product/81234567" + strconv.Itoa(10000+i)
	}
	dense := row.Vector.AppendDense(nil)
	for _, tc := range []struct {
		name   string
		vector []float64
	}{{"records", nil}, {"records and vectors", dense}} {
		b.Run(tc.name, func(b *testing.B) {
			var dst []byte
			b.ReportAllocs()
			for b.Loop() {
				dst = dst[:0]
				for i, p := range products {
					if i%5 == 4 {
						dst = AppendResult(dst, featurestorev1.FeatureStatus_FEATURE_STATUS_NOT_FOUND, "", row.CustomerID, p, nil)
						continue
					}
					dst = AppendResult(dst, featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND, enc, row.CustomerID, p, tc.vector)
				}
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}

// BenchmarkEncodeRecord encodes a row for the cache, as a fill or a
// write-through does for every row it writes.
func BenchmarkEncodeRecord(b *testing.B) {
	row := benchRow()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeRecord(row); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecord converts a row to its API message, as StreamFeatures does
// for every row it sends.
func BenchmarkRecord(b *testing.B) {
	row := benchRow()
	b.ReportAllocs()
	for b.Loop() {
		_ = Record(row)
	}
}
