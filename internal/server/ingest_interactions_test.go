package server_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/testenv"
)

// sentAt is when the test interactions happened: recent enough for any
// as_of the tests use, and truncated to what Postgres keeps.
var sentAt = time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()

// interaction returns a complete interaction of customer c with product p,
// from client client-1.
func interaction(id, event string, at time.Time) *featurestorev1.Interaction {
	metadata, err := structpb.NewStruct(map[string]any{"variant_id": "gid://shopify/ProductVariant/3", "quantity": 2, "price": 49.5})
	if err != nil {
		panic(err)
	}
	return &featurestorev1.Interaction{
		Id: id, ShopId: "shop-1", CustomerId: proto.String("gid://shopify/Customer/1"),
		ProductId: proto.String("gid://shopify/Product/2"), EventType: event,
		PageType: proto.String("search"), DeviceType: proto.String("mobile"), ReferrerType: proto.String("social"),
		ViewDuration: proto.Float64(30), CreatedAt: timestamppb.New(at),
		ClientId: proto.String("client-1"), Metadata: metadata,
	}
}

// asRow is what storing m should produce.
func asRow(m *featurestorev1.Interaction) ingest.Interaction {
	r := ingest.Interaction{
		ID: m.Id, ShopID: m.ShopId, CustomerID: m.CustomerId, ProductID: m.ProductId, EventType: m.EventType,
		PageType: m.PageType, DeviceType: m.DeviceType, ReferrerType: m.ReferrerType, ViewDuration: m.ViewDuration,
		CreatedAt: m.CreatedAt.AsTime(), ClientID: m.ClientId,
	}
	if m.Metadata != nil {
		r.Metadata, _ = m.Metadata.MarshalJSON()
	}
	return r
}

func TestIngestInteractions(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()
	anonymous := &featurestorev1.Interaction{Id: "ev-3", ShopId: "shop-1", EventType: "page_viewed", CreatedAt: timestamppb.New(sentAt)}
	first := []*featurestorev1.Interaction{interaction("ev-1", "product_viewed", sentAt), interaction("ev-2", "product_added_to_cart", sentAt.Add(time.Second)), anonymous}

	resp, err := client.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{Interactions: first})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetInserted() != 3 || resp.GetDuplicates() != 0 {
		t.Errorf("first call: %v, want 3 inserted", resp)
	}
	// A retry of the same call, with one changed row and one new one.
	changed := interaction("ev-1", "checkout_completed", sentAt)
	resp, err = client.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{Interactions: append(first[1:], changed, interaction("ev-4", "product_viewed", sentAt))})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetInserted() != 1 || resp.GetDuplicates() != 3 {
		t.Errorf("retry: %v, want 1 inserted and 3 duplicates", resp)
	}
	want := []ingest.Interaction{asRow(first[0]), asRow(first[1]), asRow(anonymous), asRow(interaction("ev-4", "product_viewed", sentAt))}
	got := testenv.Interactions(t, pool, "true")
	if len(got) != len(want) {
		t.Fatalf("%d rows stored, want %d", len(got), len(want))
	}
	for i := range want {
		if d := testenv.DiffInteraction(got[i], want[i]); d != "" {
			t.Errorf("row %s: %s", want[i].ID, d)
		}
	}
}

// TestIngestInteractionsIdsPerShop stores the same id for two shops, one
// call each: both are stored, and neither shop's row changes the other's.
func TestIngestInteractionsIdsPerShop(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()
	sent := map[string]*featurestorev1.Interaction{}
	for i, shop := range []string{"tenant-a", "tenant-b"} {
		m := interaction("shared-1", "product_viewed", sentAt.Add(time.Duration(i)*time.Second))
		m.ShopId = shop
		sent[shop] = m
		resp, err := client.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{Interactions: []*featurestorev1.Interaction{m}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetInserted() != 1 || resp.GetDuplicates() != 0 {
			t.Errorf("shared-1 of %s: %v, want 1 inserted and 0 duplicates", shop, resp)
		}
	}
	for shop, m := range sent {
		got := testenv.Interactions(t, pool, "shop_id = $1", shop)
		if len(got) != 1 {
			t.Errorf("shop %s has %d rows, want 1", shop, len(got))
			continue
		}
		if d := testenv.DiffInteraction(got[0], asRow(m)); d != "" {
			t.Errorf("shop %s: %s", shop, d)
		}
	}
}

// TestIngestInteractionsRejectsInvalidBatches sends batches with bad rows
// among good ones: each is answered INVALID_ARGUMENT naming the bad fields
// by their path in the request, and stores nothing.
func TestIngestInteractionsRejectsInvalidBatches(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()
	good := func(i int) *featurestorev1.Interaction {
		return interaction(fmt.Sprintf("ev-%d", i), "product_viewed", sentAt)
	}
	with := func(change func(m *featurestorev1.Interaction)) *featurestorev1.Interaction {
		m := good(99)
		change(m)
		return m
	}
	many := make([]*featurestorev1.Interaction, ingest.MaxBatch+1)
	for i := range many {
		many[i] = good(i)
	}
	manyBad := make([]*featurestorev1.Interaction, 30)
	for i := range manyBad {
		manyBad[i] = with(func(m *featurestorev1.Interaction) { m.ShopId = "" })
	}

	for _, tc := range []struct {
		name         string
		interactions []*featurestorev1.Interaction
		fields       []string // the violations' fields, in order
		message      string
	}{
		{"empty request", nil, []string{"interactions"}, "send 1 to 10000"},
		{"too many", many, []string{"interactions"}, "holds 10001 interactions"},
		{"future row among good ones", []*featurestorev1.Interaction{good(0), with(func(m *featurestorev1.Interaction) {
			m.CreatedAt = timestamppb.New(time.Now().Add(time.Hour))
		}), good(2)}, []string{"interactions[1].created_at"}, "past the server's clock"},
		{"several bad fields", []*featurestorev1.Interaction{good(0), good(1), good(2), with(func(m *featurestorev1.Interaction) {
			m.Id, m.ViewDuration = "", proto.Float64(-2)
		}), with(func(m *featurestorev1.Interaction) { m.DeviceType = proto.String(strings.Repeat("x", 65)) })},
			[]string{"interactions[3].id", "interactions[3].view_duration", "interactions[4].device_type"}, "interactions[3].id: is required"},
		{"missing and malformed timestamps", []*featurestorev1.Interaction{with(func(m *featurestorev1.Interaction) { m.CreatedAt = nil }),
			with(func(m *featurestorev1.Interaction) { m.CreatedAt = &timestamppb.Timestamp{Seconds: 1, Nanos: 2e9} })},
			[]string{"interactions[0].created_at", "interactions[1].created_at"}, "is not a valid timestamp"},
		{"NUL in an id", []*featurestorev1.Interaction{with(func(m *featurestorev1.Interaction) { m.ProductId = proto.String("p\x00") })},
			[]string{"interactions[0].product_id"}, "NUL"},
		{"client id too long", []*featurestorev1.Interaction{with(func(m *featurestorev1.Interaction) { m.ClientId = proto.String(strings.Repeat("c", 256)) })},
			[]string{"interactions[0].client_id"}, "at most 255"},
		{"metadata JSON cannot hold", []*featurestorev1.Interaction{with(func(m *featurestorev1.Interaction) { m.Metadata.Fields["price"] = structpb.NewNumberValue(math.NaN()) })},
			[]string{"interactions[0].metadata"}, "cannot be written as JSON"},
		{"metadata with a NUL", []*featurestorev1.Interaction{with(func(m *featurestorev1.Interaction) { m.Metadata.Fields["q"] = structpb.NewStringValue("a\x00") })},
			[]string{"interactions[0].metadata"}, "Postgres jsonb cannot store"},
		{"metadata too large", []*featurestorev1.Interaction{with(func(m *featurestorev1.Interaction) {
			m.Metadata.Fields["q"] = structpb.NewStringValue(strings.Repeat("q", ingest.MaxMetadataBytes))
		})}, []string{"interactions[0].metadata"}, "at most 16384"},
		{"a message of bounded size for many bad rows", manyBad,
			[]string{"interactions[0].shop_id", "interactions[1].shop_id", "interactions[2].shop_id", "interactions[3].shop_id", "interactions[4].shop_id",
				"interactions[5].shop_id", "interactions[6].shop_id", "interactions[7].shop_id", "interactions[8].shop_id", "interactions[9].shop_id"},
			"and 20 more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := client.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{Interactions: tc.interactions})
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.message) {
				t.Fatalf("IngestInteractions = %v, want INVALID_ARGUMENT mentioning %q", err, tc.message)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
						if !strings.Contains(st.Message(), v.GetField()+": "+v.GetDescription()) {
							t.Errorf("the message %q does not state violation %v", st.Message(), v)
						}
					}
				}
			}
			if strings.Join(fields, " ") != strings.Join(tc.fields, " ") {
				t.Errorf("field violations %v, want %v", fields, tc.fields)
			}
			if got := testenv.Interactions(t, pool, "true"); len(got) != 0 {
				t.Errorf("a rejected batch stored %d rows", len(got))
			}
		})
	}
}

func TestIngestInteractionsWithoutIngester(t *testing.T) {
	t.Parallel()
	svc := newService(t, server.Config{})
	_, err := svc.IngestInteractions(context.Background(), &featurestorev1.IngestInteractionsRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("IngestInteractions without an ingester = %v, want UNIMPLEMENTED", err)
	}
}

// TestIngestedInteractionsFlowIntoComputeFeatures ingests one customer's
// events through the API and checks the features a compute run derives
// from them.
func TestIngestedInteractionsFlowIntoComputeFeatures(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()
	view := func(id string, at time.Time, duration float64) *featurestorev1.Interaction {
		m := interaction(id, "product_viewed", at)
		m.ViewDuration = proto.Float64(duration)
		return m
	}
	// The view of a visitor never identified makes no pair; the views
	// of customer 1's own browser before it logged in are customer 1's.
	anonymous := view("ev-anon", sentAt, 10)
	anonymous.CustomerId, anonymous.ClientId = nil, proto.String("client-2")
	beforeLogin := view("ev-0", sentAt.Add(-time.Minute), 60)
	beforeLogin.CustomerId = nil
	events := []*featurestorev1.Interaction{
		beforeLogin,
		view("ev-1", sentAt, 20),
		view("ev-2", sentAt.Add(10*time.Minute), 40),
		interaction("ev-3", "product_added_to_cart", sentAt.Add(11*time.Minute)),
		anonymous,
	}
	if _, err := client.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{Interactions: events}); err != nil {
		t.Fatal(err)
	}
	if _, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-1"}); err != nil {
		t.Fatalf("ComputeFeatures: %v", err)
	}

	var totalViews, uniqueViews, cartAdds, searchViews, mobileViews int
	var durationAvg float64
	var channel string
	err := pool.QueryRow(ctx, `
SELECT total_views, unique_views, cart_adds, search_views, mobile_views, view_duration_avg, channel_preference
  FROM interaction_features
 WHERE shop_id = 'shop-1' AND customer_id = 'gid://shopify/Customer/1' AND product_id = 'gid://shopify/Product/2'`).
		Scan(&totalViews, &uniqueViews, &cartAdds, &searchViews, &mobileViews, &durationAvg, &channel)
	if err != nil {
		t.Fatalf("read the pair's features: %v", err)
	}
	if totalViews != 3 || uniqueViews != 1 || cartAdds != 1 || searchViews != 3 || mobileViews != 3 || durationAvg != 40 || channel != "social" {
		t.Errorf("features: total_views %d, unique_views %d, cart_adds %d, search_views %d, mobile_views %d, view_duration_avg %g, channel %q;"+
			" want 3, 1, 1, 3, 3, 40, social", totalViews, uniqueViews, cartAdds, searchViews, mobileViews, durationAvg, channel)
	}
	var pairs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM interaction_features WHERE shop_id = 'shop-1'`).Scan(&pairs); err != nil || pairs != 1 {
		t.Errorf("the shop has %d pairs (err %v), want 1: the anonymous view makes none", pairs, err)
	}
}
