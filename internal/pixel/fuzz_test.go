package pixel_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// FuzzPixel posts arbitrary bodies to the endpoint, backed by Postgres. It
// must never fail with a server error (which is what a row the database
// refuses would cause) or panic; a rejected body must store nothing; and
// every row an accepted body stores must pass ingest's validation.
func FuzzPixel(f *testing.F) {
	checkout, err := os.ReadFile("testdata/checkout_completed.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(checkout)
	for _, ev := range []any{
		pixelEvent("product_viewed", "ev-1", t0, productPage, map[string]any{"productVariant": variant("7234567890123")}),
		[]any{pixelEvent("page_viewed", "ev-2", t0, productPage, nil), pixelEvent("product_added_to_cart", "ev-3", t0.Add(time.Second), productPage, cartLine(1))},
		with(pixelEvent("product_viewed", "ev-4", t0, productPage, map[string]any{"productVariant": variant("1\u0000")}), map[string]any{"customerId": 12}),
		pixelEvent("checkout_completed", "ev-5", t0, productPage, map[string]any{"checkout": map[string]any{"lineItems": []any{nil, map[string]any{"variant": variant(nil)}}}}),
		// Metadata of every odd shape: none of it may make an event unstorable.
		pixelEvent("search_submitted", "ev-6", t0, productPage, map[string]any{"searchResult": map[string]any{"query": "a\u0000\xff"}}),
		pixelEvent("product_added_to_cart", "ev-7", t0, productPage, map[string]any{"cartLine": map[string]any{
			"quantity": "2", "merchandise": with(variant(1), map[string]any{"id": true, "price": map[string]any{"amount": "1e400", "currencyCode": 3}})}}),
		pixelEvent("checkout_completed", "ev-8", t0, productPage, map[string]any{"checkout": map[string]any{"currencyCode": []any{}, "order": map[string]any{"id": 1.5},
			"lineItems": []any{map[string]any{"quantity": map[string]any{}, "variant": with(variant(1), map[string]any{"id": "\u0000"})}}}}),
	} {
		b, err := json.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{``, `[]`, `{}`, `[{}]`, `null`, `[null]`, `{"id":"x","name":"page_viewed","timestamp":"0000-01-01T00:00:00Z","clientId":"c"}`,
		`{"id":"x","name":"product_viewed","timestamp":"2025-01-01T00:00:00Z","data":{"productVariant":{"product":{"id":1e400}}}}`,
		`{"id":"x","name":"search_submitted","timestamp":"2025-01-01T00:00:00Z","clientId":"c","data":{"searchResult":{"query":"\ud800\u0000"}}}`,
		"[{\"id\":\"x\",\"name\":\"page_viewed\",\"timestamp\":\"2025-01-01T00:00:00Z\",\"clientId\":\"caf\xe9\"}]"} {
		f.Add([]byte(s))
	}

	pool, _ := testenv.Postgres(f)
	h := pixel.NewHandler(store.New(pool), pixel.Config{}, testenv.Logger())
	var inputs atomic.Int64
	f.Fuzz(func(t *testing.T, body []byte) {
		// A shop of its own tells this input's rows from earlier ones'.
		shopID := fmt.Sprintf("fuzz-%d.myshopify.com", inputs.Add(1))
		rec := post(t, h, "/v1/pixel/"+shopID, body, nil)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var a struct{ Inserted int }
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			t.Fatalf("the answer is not JSON: %s", rec.Body)
		}
		stored := testenv.Interactions(t, pool, "shop_id = $1", shopID)
		switch {
		case rec.Code == http.StatusOK && !utf8.Valid(body):
			t.Fatalf("a body that is not UTF-8 was stored")
		case rec.Code != http.StatusOK && len(stored) > 0:
			t.Fatalf("status %d stored %d rows", rec.Code, len(stored))
		case rec.Code == http.StatusOK && len(stored) != a.Inserted:
			t.Fatalf("%d rows stored, the answer says %d", len(stored), a.Inserted)
		case len(stored) > 0:
			if err := ingest.Validate(ingest.Rows(stored), time.Now()); err != nil {
				t.Fatalf("an invalid row was stored: %v", err)
			}
		}
	})
}
