package pixel_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestPixelAnonymousVisitToLoggedInCheckout posts, one request per event
// as a browser does, a visit that is anonymous until the checkout names
// the customer, after which the visitor is logged in; and beside it, to
// another shop, the same visit from a pixel that knew the customer all
// along. Identity resolution must give the first shop exactly the pairs
// and features of the second, and nothing for a visitor never identified.
func TestPixelAnonymousVisitToLoggedInCheckout(t *testing.T) {
	h, pool := newHandler(t, pixel.Config{})
	const (
		anonymousShop  = "anonymous.myshopify.com"
		identifiedShop = "identified.myshopify.com"
	)
	shirt, hat := variant("7234567890123"), variant("7234567890456")
	checkout := map[string]any{"checkout": map[string]any{
		"order": map[string]any{"id": "5731234567890", "customer": map[string]any{"id": "555"}},
		"lineItems": []any{
			map[string]any{"quantity": 1, "variant": shirt},
			map[string]any{"quantity": 1, "variant": with(variant("7234567890123"), map[string]any{"id": "41772286869579"})},
		},
	}}
	steps := []struct {
		event    map[string]any
		loggedIn bool // the snippet adds the customer
	}{
		{pixelEvent("page_viewed", "ev-1", t0, visit{"https://acme.myshopify.com/", "https://www.google.com/", iPhone, 390}, nil), false},
		{pixelEvent("product_viewed", "ev-2", t0.Add(time.Minute), productPage, map[string]any{"productVariant": shirt}), false},
		{pixelEvent("product_viewed", "ev-3", t0.Add(3*time.Minute), productPage, map[string]any{"productVariant": hat}), false},
		{pixelEvent("product_added_to_cart", "ev-4", t0.Add(4*time.Minute), productPage, cartLine("7234567890123")), false},
		{pixelEvent("product_viewed", "ev-5", t0.Add(50*time.Minute), productPage, map[string]any{"productVariant": shirt}), false},
		{pixelEvent("checkout_completed", "ev-6", t0.Add(55*time.Minute), productPage, checkout), false},
		{pixelEvent("product_viewed", "ev-7", t0.Add(24*time.Hour), productPage, map[string]any{"productVariant": hat}), true},
	}
	for _, v := range steps {
		anonymous := v.event
		if v.loggedIn {
			anonymous = with(clone(v.event), map[string]any{"customerId": "555"})
		}
		decode(t, post(t, h, "/v1/pixel/"+anonymousShop, anonymous, nil), http.StatusOK)
		decode(t, post(t, h, "/v1/pixel/"+identifiedShop, with(clone(v.event), map[string]any{"customerId": "555"}), nil), http.StatusOK)
	}
	// Another browser looks at the hat and never identifies itself.
	stranger := with(pixelEvent("product_viewed", "ev-8", t0.Add(2*time.Minute), productPage, map[string]any{"productVariant": hat}),
		map[string]any{"clientId": "client-2"})
	decode(t, post(t, h, "/v1/pixel/"+anonymousShop, stranger, nil), http.StatusOK)

	e, err := compute.NewEngine(store.New(pool), compute.DefaultConfig(), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	rows := func(shop string) []store.StoredRow {
		var out []store.StoredRow
		err := e.ComputeRows(context.Background(), compute.RowsRequest{ShopID: shop, AsOf: t0.Add(48 * time.Hour)}, func(r *store.StoredRow) error {
			out = append(out, *r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got, want := rows(anonymousShop), rows(identifiedShop)
	if len(want) != 2 {
		t.Fatalf("the identified visit makes %d pairs, want 2 (the shirt and the hat)", len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("the anonymous visit makes %d pairs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].CustomerID != want[i].CustomerID || got[i].ProductID != want[i].ProductID || got[i].Vector != want[i].Vector {
			t.Errorf("pair %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// The checkout of two sizes of the shirt is one purchase of it.
	for _, r := range want {
		if r.ProductID == "gid://shopify/Product/7234567890123" && (r.Vector.Purchases != 1 || r.Vector.TotalViews != 2 || r.Vector.CartAdds != 1) {
			t.Errorf("shirt: purchases %d, views %d, cart adds %d; want 1, 2, 1", r.Vector.Purchases, r.Vector.TotalViews, r.Vector.CartAdds)
		}
	}
}

// clone copies an event's top level, so that adding a field to the copy
// leaves the original as it was.
func clone(ev map[string]any) map[string]any {
	out := make(map[string]any, len(ev))
	for k, v := range ev {
		out[k] = v
	}
	return out
}
