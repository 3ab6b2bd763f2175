package pixel_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestPixelEventTypes posts each standard event the pixel subscribes to
// and checks the rows it becomes, field by field.
func TestPixelEventTypes(t *testing.T) {
	t.Parallel()
	h, pool := newHandler(t, pixel.Config{})
	checkout, err := os.ReadFile("testdata/checkout_completed.json")
	if err != nil {
		t.Fatal(err)
	}
	row := func(id, event string, at time.Time, customer, product *string, page, device, referrer string) ingest.Interaction {
		return ingest.Interaction{
			ID: shop + "/" + id, ShopID: shop, CustomerID: customer, ProductID: product, EventType: event,
			PageType: ptr(page), DeviceType: ptr(device), ReferrerType: ptr(referrer), CreatedAt: at,
			ClientID: ptr("client-1"),
		}
	}
	// withMetadata returns r with metadata md (JSON) and another client.
	withMetadata := func(r ingest.Interaction, md string) ingest.Interaction {
		r.Metadata = []byte(md)
		return r
	}
	checkoutClient := func(r ingest.Interaction) ingest.Interaction {
		r.ClientID = ptr("4f2b8c9e-1a3d-4e5f-8a7b-6c5d4e3f2a1b")
		return r
	}
	// twoVariants is a checkout of two sizes of the shirt and a hat: the
	// shirt was bought once, so it makes one row, whose metadata keeps
	// both lines.
	twoVariants := pixelEvent("checkout_completed", "ev-sizes", t0.Add(6*time.Minute), productPage, map[string]any{"checkout": map[string]any{
		"currencyCode": "EUR",
		"order":        map[string]any{"id": 5731234567891, "customer": map[string]any{"id": "555"}},
		"lineItems": []any{
			map[string]any{"quantity": 1, "variant": with(variant("7234567890123"), map[string]any{"id": "41772286869578"})},
			map[string]any{"quantity": 2, "variant": with(variant("gid://shopify/Product/7234567890456"), map[string]any{"id": "41772286869999"})},
			map[string]any{"quantity": "3", "variant": with(variant(7234567890123), map[string]any{"id": 41772286869580, "price": map[string]any{"amount": "45.50", "currencyCode": "EUR"}})},
		},
	}})
	customer := ptr("gid://shopify/Customer/555")
	shirt := ptr("gid://shopify/Product/7234567890123")

	for _, tc := range []struct {
		name    string
		body    any
		ignored int
		want    []ingest.Interaction
	}{
		{
			name: "product view reached from a collection, logged-in customer",
			body: with(pixelEvent("product_viewed", "ev-view", t0, productPage, map[string]any{"productVariant": variant("7234567890123")}),
				map[string]any{"customerId": "555"}),
			want: []ingest.Interaction{row("ev-view", "product_viewed", t0, customer, shirt, "collection", "mobile", "internal")},
		},
		{
			name: "add to cart on a product page reached from a search engine",
			body: with(pixelEvent("product_added_to_cart", "ev-add", t0.Add(time.Minute),
				visit{"https://acme.myshopify.com/products/linen-shirt", "https://www.google.com/", windowsChrome, 1680}, cartLine(7234567890123)),
				map[string]any{"customerId": 555}),
			want: []ingest.Interaction{withMetadata(row("ev-add", "product_added_to_cart", t0.Add(time.Minute), customer, shirt, "product", "desktop", "search_engine"),
				`{"variant_id": "gid://shopify/ProductVariant/41772286869578", "quantity": 1, "price": 49, "currency": "EUR"}`)},
		},
		{
			name: "remove from cart on the cart page of a locale, anonymous",
			body: pixelEvent("product_removed_from_cart", "ev-remove", t0.Add(2*time.Minute),
				visit{"https://acme.myshopify.com/en-gb/cart", "https://acme.myshopify.com/en-gb/products/linen-shirt", iPad, 820}, cartLine("7234567890123")),
			want: []ingest.Interaction{withMetadata(row("ev-remove", "product_removed_from_cart", t0.Add(2*time.Minute), nil, shirt, "cart", "tablet", "internal"),
				`{"variant_id": "gid://shopify/ProductVariant/41772286869578", "quantity": 1, "price": 49, "currency": "EUR"}`)},
		},
		{
			name: "completed checkout: one row per product with a line item, the order's customer",
			body: checkout,
			want: []ingest.Interaction{
				checkoutClient(withMetadata(row("sh-5b3c1f2e-7A1D-4C2B-9E0F-3D4C5B6A7980/0", "checkout_completed", t0.Add(5*time.Minute), ptr("gid://shopify/Customer/6917135794460"), shirt, "checkout", "desktop", "internal"),
					`{"order_id": "gid://shopify/Order/5731234567890", "currency": "GBP", "lines": [{"variant_id": "gid://shopify/ProductVariant/41772286869578", "quantity": 2, "price": 49}]}`)),
				checkoutClient(withMetadata(row("sh-5b3c1f2e-7A1D-4C2B-9E0F-3D4C5B6A7980/2", "checkout_completed", t0.Add(5*time.Minute), ptr("gid://shopify/Customer/6917135794460"), ptr("gid://shopify/Product/7234567890456"), "checkout", "desktop", "internal"),
					`{"order_id": "gid://shopify/Order/5731234567890", "currency": "GBP", "lines": [{"variant_id": "gid://shopify/ProductVariant/41772286869999", "quantity": 1, "price": 25}]}`)),
			},
		},
		{
			name: "completed checkout of two variants of one product: one row for it",
			body: twoVariants,
			want: []ingest.Interaction{
				withMetadata(row("ev-sizes/0", "checkout_completed", t0.Add(6*time.Minute), ptr("gid://shopify/Customer/555"), shirt, "product", "mobile", "internal"),
					`{"order_id": "gid://shopify/Order/5731234567891", "currency": "EUR", "lines": [
						{"variant_id": "gid://shopify/ProductVariant/41772286869578", "quantity": 1, "price": 49},
						{"variant_id": "gid://shopify/ProductVariant/41772286869580", "quantity": 3, "price": 45.5}]}`),
				withMetadata(row("ev-sizes/1", "checkout_completed", t0.Add(6*time.Minute), ptr("gid://shopify/Customer/555"), ptr("gid://shopify/Product/7234567890456"), "product", "mobile", "internal"),
					`{"order_id": "gid://shopify/Order/5731234567891", "currency": "EUR", "lines": [
						{"variant_id": "gid://shopify/ProductVariant/41772286869999", "quantity": 2, "price": 49}]}`),
			},
		},
		{
			name: "collection view from a paid social campaign",
			body: pixelEvent("collection_viewed", "ev-collection", t0,
				visit{"https://acme.myshopify.com/collections/shirts?utm_source=facebook&utm_medium=paid_social", "https://l.facebook.com/", iPhone, 390},
				map[string]any{"collection": map[string]any{"id": "4101", "title": "Shirts", "productVariants": []any{variant("7234567890123")}}}),
			want: []ingest.Interaction{row("ev-collection", "collection_viewed", t0, nil, nil, "collection", "mobile", "paid")},
		},
		{
			name: "search from the home page",
			body: pixelEvent("search_submitted", "ev-search", t0,
				visit{"https://acme.myshopify.com/search?q=hat", "https://acme.myshopify.com/", iPhone, 390},
				map[string]any{"searchResult": map[string]any{"query": "hat", "productVariants": []any{}}}),
			want: []ingest.Interaction{withMetadata(row("ev-search", "search_submitted", t0, nil, nil, "search", "mobile", "internal"), `{"query": "hat"}`)},
		},
		{
			name: "page view typed in, device from the viewport alone",
			body: pixelEvent("page_viewed", "ev-page", t0, visit{"https://acme.myshopify.com/", "", "", 800}, nil),
			want: []ingest.Interaction{row("ev-page", "page_viewed", t0, nil, nil, "home", "tablet", "direct")},
		},
		{
			name: "a product view reached from a newsletter",
			body: pixelEvent("product_viewed", "ev-newsletter", t0,
				visit{"https://acme.myshopify.com/products/linen-shirt?utm_source=klaviyo&utm_medium=email", "", iPhone, 390},
				map[string]any{"productVariant": variant("gid://shopify/Product/7234567890123")}),
			want: []ingest.Interaction{row("ev-newsletter", "product_viewed", t0, nil, shirt, "product", "mobile", "email")},
		},
		{
			name:    "events that make no interaction",
			body:    []any{pixelEvent("cart_viewed", "ev-cart", t0, productPage, nil), pixelEvent("product_viewed", "ev-no-product", t0, productPage, map[string]any{"productVariant": variant(nil)})},
			ignored: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := decode(t, post(t, h, "/v1/pixel/"+shop, tc.body, nil), http.StatusOK)
			if a.Inserted != int64(len(tc.want)) || a.Duplicates != 0 || a.Ignored != tc.ignored {
				t.Errorf("answer %+v, want %d inserted, %d ignored", a, len(tc.want), tc.ignored)
			}
			ids := make([]string, len(tc.want))
			for i, w := range tc.want {
				ids[i] = w.ID
			}
			got := testenv.Interactions(t, pool, "id = ANY($1)", ids)
			if len(got) != len(tc.want) {
				t.Fatalf("%d rows stored, want %d", len(got), len(tc.want))
			}
			for i := range tc.want {
				if d := testenv.DiffInteraction(got[i], tc.want[i]); d != "" {
					t.Errorf("row %s: %s", tc.want[i].ID, d)
				}
			}
			// Sent again, every row is a duplicate.
			a = decode(t, post(t, h, "/v1/pixel/"+shop, tc.body, nil), http.StatusOK)
			if a.Inserted != 0 || a.Duplicates != int64(len(tc.want)) {
				t.Errorf("sent again: %+v, want %d duplicates", a, len(tc.want))
			}
		})
	}
}

// TestPixelCorrectsClientClock checks that an event stamped after it
// arrived is stored at its arrival: a client clock running ahead must not
// put events in the future.
func TestPixelCorrectsClientClock(t *testing.T) {
	t.Parallel()
	h, pool := newHandler(t, pixel.Config{})
	before := time.Now()
	decode(t, post(t, h, "/v1/pixel/"+shop, pixelEvent("page_viewed", "ev-ahead", time.Now().Add(time.Hour), productPage, nil), nil), http.StatusOK)
	got := testenv.Interactions(t, pool, "true")
	if len(got) != 1 || got[0].CreatedAt.Before(before.Truncate(time.Microsecond)) || got[0].CreatedAt.After(time.Now()) {
		t.Fatalf("stored %+v, want one row created at its arrival", got)
	}
}

func TestPixelRejects(t *testing.T) {
	t.Parallel()
	h, pool := newHandler(t, pixel.Config{})
	good := pixelEvent("page_viewed", "ev-good", t0, productPage, nil)
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        any
		status      int
		error       string
		violations  []string // "event field", in order
	}{
		{name: "malformed JSON", body: `[{"id": "ev-1", "name": "page_viewed"`, status: 400, error: "malformed JSON at byte"},
		{name: "trailing garbage", body: `{"id": "ev-1"} x`, status: 400, error: "malformed JSON"},
		{name: "wrong field type", body: `{"id": "ev-1", "name": "page_viewed", "timestamp": 17}`, status: 400, error: "field timestamp must be a JSON string, not a number"},
		{name: "wrong id type", body: `{"id": "ev-1", "name": "product_viewed", "data": {"productVariant": {"product": {"id": true}}}}`, status: 400, error: "an id must be a string or a number"},
		{name: "not an event", body: `"page_viewed"`, status: 400, error: "must be one event as a JSON object"},
		{name: "array of non-events", body: `[1, 2]`, status: 400, error: "where an event (an object) was expected"},
		{name: "empty body", body: "  \n", status: 400, error: "the body is empty"},
		{
			name: "missing and malformed fields", status: 400, error: "nothing was stored",
			body:       []any{good, map[string]any{"name": "page_viewed", "timestamp": "yesterday"}, with(pixelEvent("page_viewed", "ev-3", t0, productPage, nil), map[string]any{"clientId": strings.Repeat("c", 256)})},
			violations: []string{"1 id", "1 timestamp", "2 clientId"},
		},
		{
			name: "a field too long for its column", status: 400, error: "cannot be stored",
			body:       []any{good, pixelEvent("product_viewed", "ev-long", t0, productPage, map[string]any{"productVariant": variant(strings.Repeat("9", 300))})},
			violations: []string{"1 product_id"},
		},
		{
			name: "invalid UTF-8 in a field the row stores", status: 400, error: "not valid UTF-8",
			body:       invalidUTF8(t, []any{good, with(pixelEvent("page_viewed", "ev-2", t0, productPage, nil), map[string]any{"clientId": badText})}),
			violations: []string{"1 clientId"},
		},
		{
			name: "invalid UTF-8 in a nested id", status: 400, error: "not valid UTF-8",
			body:       invalidUTF8(t, pixelEvent("product_viewed", "ev-1", t0, productPage, map[string]any{"productVariant": variant(badText)})),
			violations: []string{"0 data.productVariant.product.id"},
		},
		{
			name: "invalid UTF-8 in a field nothing uses", status: 400, error: "not valid UTF-8",
			body:       invalidUTF8(t, []any{good, good, pixelEvent("search_submitted", "ev-3", t0, productPage, map[string]any{"searchResult": map[string]any{"query": "linen", "terms": []any{"a", badText}}})}),
			violations: []string{"2 data.searchResult.terms[1]"},
		},
		{
			name: "invalid UTF-8 in a key", status: 400, error: "not valid UTF-8",
			body:       invalidUTF8(t, pixelEvent("page_viewed", "ev-1", t0, productPage, map[string]any{badText: 1})),
			violations: []string{"0 data"},
		},
		{name: "invalid UTF-8 outside a string", body: "[{\"id\": \"ev-1\"}\xff]", status: 400, error: "malformed JSON at byte 15"},
		{name: "body too large", body: `[` + strings.Repeat(`{"id":"x"},`, pixel.DefaultMaxBody/11) + `{}]`, status: 413, error: "larger than 1048576 bytes"},
		{name: "unsupported content type", contentType: "application/x-www-form-urlencoded", body: good, status: 415, error: "not accepted"},
		{name: "shop id too long", path: "/v1/pixel/" + strings.Repeat("s", 256), body: good, status: 400, error: "shop id in the path is 256 characters long"},
		{name: "wrong method", method: http.MethodGet, body: "", status: 405, error: "GET is not supported"},
		{name: "unknown path", path: "/v2/pixel", body: good, status: 404, error: "no such endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := cmp.Or(tc.path, "/v1/pixel/"+shop)
			var rec *httptest.ResponseRecorder
			if tc.method == "" {
				rec = post(t, h, path, tc.body, map[string]string{"Content-Type": cmp.Or(tc.contentType, "application/json")})
			} else {
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(tc.method, path, nil))
			}
			a := decode(t, rec, tc.status)
			if !strings.Contains(a.Error, tc.error) {
				t.Errorf("error %q, want it to mention %q", a.Error, tc.error)
			}
			var violations []string
			for _, v := range a.Violations {
				violations = append(violations, strconv.Itoa(v.Event)+" "+v.Field)
				if v.Reason == "" {
					t.Errorf("violation %+v gives no reason", v)
				}
			}
			if strings.Join(violations, ",") != strings.Join(tc.violations, ",") {
				t.Errorf("violations %v, want %v", violations, tc.violations)
			}
			if got := testenv.Interactions(t, pool, "true"); len(got) != 0 {
				t.Errorf("a rejected request stored %d rows", len(got))
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/pixel/"+shop, nil))
	if allow := rec.Header().Get("Allow"); allow != "POST, OPTIONS" {
		t.Errorf("405 answer's Allow = %q", allow)
	}
}

// badText marks, in an event built for invalidUTF8, where a string is not
// valid UTF-8.
const badText = "BAD-TEXT-MARK"

// invalidUTF8 returns body as JSON in which every badText is replaced by
// bytes that are not UTF-8: what a client that does not encode its text
// as UTF-8 (Latin-1 here) sends.
func invalidUTF8(t *testing.T, body any) []byte {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(badText)) {
		t.Fatal("the body has no mark to replace")
	}
	return bytes.ReplaceAll(data, []byte(badText), []byte("caf\xe9 cr\xe8me"))
}
