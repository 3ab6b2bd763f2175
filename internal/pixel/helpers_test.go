package pixel_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

const (
	shop = "acme.myshopify.com"

	iPhone        = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	iPad          = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
	windowsChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)

// t0 is when the test visits start; far enough in the past that no event
// is in the future, recent enough to be realistic.
var t0 = time.Date(2025, 5, 20, 10, 0, 0, 0, time.UTC)

// visit is where an event happens: the page, how it was reached, and the
// browser.
type visit struct {
	href, referrer, userAgent string
	width                     float64
}

var productPage = visit{"https://acme.myshopify.com/products/linen-shirt?variant=41772286869578", "https://acme.myshopify.com/collections/shirts", iPhone, 390}

// pixelEvent returns a Shopify standard event as analytics.subscribe hands
// it to a pixel, with the context a browser fills in, from client
// "client-1". data is the event's data.
func pixelEvent(name, id string, at time.Time, v visit, data map[string]any) map[string]any {
	u, err := url.Parse(v.href)
	if err != nil {
		panic(err)
	}
	location := map[string]any{
		"hash": "", "host": u.Host, "hostname": u.Hostname(), "href": v.href, "origin": u.Scheme + "://" + u.Host,
		"pathname": u.Path, "port": "", "protocol": u.Scheme + ":", "search": "?" + u.RawQuery,
	}
	return map[string]any{
		"id": id, "name": name, "clientId": "client-1", "seq": 1, "type": "standard",
		"timestamp": at.Format("2006-01-02T15:04:05.000Z07:00"),
		"context": map[string]any{
			"document":  map[string]any{"characterSet": "UTF-8", "location": location, "referrer": v.referrer, "title": "Acme"},
			"navigator": map[string]any{"cookieEnabled": true, "language": "en-US", "languages": []string{"en-US"}, "userAgent": v.userAgent},
			"window": map[string]any{
				"innerHeight": 700, "innerWidth": v.width, "location": location, "origin": u.Scheme + "://" + u.Host,
				"outerHeight": 800, "outerWidth": v.width, "screen": map[string]any{"height": 800, "width": v.width},
			},
		},
		"data": data,
	}
}

// variant is a web pixel ProductVariant of the given product.
func variant(productID any) map[string]any {
	return map[string]any{
		"id": "41772286869578", "image": map[string]any{"src": "//cdn.shopify.com/shirt.jpg"},
		"price": map[string]any{"amount": 49.0, "currencyCode": "EUR"}, "sku": "LS-01", "title": "M / Blue",
		"product": map[string]any{"id": productID, "title": "Linen Shirt", "type": "Shirts", "url": "/products/linen-shirt", "vendor": "Acme"},
	}
}

func cartLine(productID any) map[string]any {
	return map[string]any{"cartLine": map[string]any{
		"cost": map[string]any{"totalAmount": map[string]any{"amount": 49.0, "currencyCode": "EUR"}}, "merchandise": variant(productID), "quantity": 1,
	}}
}

// with returns ev with the given top-level fields set.
func with(ev map[string]any, fields map[string]any) map[string]any {
	for k, v := range fields {
		ev[k] = v
	}
	return ev
}

// newHandler returns the endpoint on a fresh database.
func newHandler(t *testing.T, cfg pixel.Config) (*pixel.Handler, *pgxpool.Pool) {
	t.Helper()
	pool, _ := testenv.Postgres(t)
	return pixel.NewHandler(store.New(pool), cfg, testenv.Logger()), pool
}

// post sends body (marshalled to JSON unless it is a string or []byte) as
// the snippet does from the shop's storefront, with the given headers (an
// empty value removes the header).
func post(t testing.TB, h http.Handler, path string, body any, headers map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(data))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", "https://"+shop)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// answer is a decoded response of either kind.
type answer struct {
	Inserted   int64  `json:"inserted"`
	Duplicates int64  `json:"duplicates"`
	Ignored    int    `json:"ignored"`
	Error      string `json:"error"`
	Violations []struct {
		Event         int
		Field, Reason string
	} `json:"violations"`
}

// decode checks that rec is JSON with the given status and decodes it.
func decode(t testing.TB, rec *httptest.ResponseRecorder, status int) answer {
	t.Helper()
	var a answer
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("the answer is not JSON: %v: %s", err, rec.Body)
	}
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	return a
}

func ptr[T any](v T) *T { return &v }
