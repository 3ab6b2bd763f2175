package pixel_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

func TestPixelCORS(t *testing.T) {
	t.Parallel()
	h, pool := newHandler(t, pixel.Config{})
	custom, err := pixel.ParseOrigins("https://www.acme.com, http://localhost:3000")
	if err != nil {
		t.Fatal(err)
	}
	hCustom := pixel.NewHandler(store.New(pool), pixel.Config{Origins: custom}, testenv.Logger())
	ev := pixelEvent("page_viewed", "ev-cors", t0, productPage, nil)
	stored := 0

	for _, tc := range []struct {
		name    string
		handler http.Handler
		method  string
		shop    string
		origin  string
		allowed bool
	}{
		{"preflight from the shop's myshopify storefront", h, http.MethodOptions, shop, "https://acme.myshopify.com", true},
		{"post from the shop's myshopify storefront", h, http.MethodPost, shop, "https://acme.myshopify.com", true},
		{"post from Shopify's pixel sandbox", h, http.MethodPost, shop, "null", true},
		{"preflight from the shop's own domain", h, http.MethodOptions, "shop.example.com", "https://shop.example.com", true},
		{"post without an Origin: not a storefront page", h, http.MethodPost, shop, "", false},
		{"preflight from another site", h, http.MethodOptions, shop, "https://evil.example", false},
		{"post from another site", h, http.MethodPost, shop, "https://evil.example", false},
		{"post from a look-alike domain", h, http.MethodPost, shop, "https://myshopify.com.evil.example", false},
		{"post over plain http", h, http.MethodPost, shop, "http://acme.myshopify.com", false},
		{"post from a configured origin", hCustom, http.MethodPost, shop, "https://www.acme.com", true},
		{"preflight from a configured development origin", hCustom, http.MethodOptions, shop, "http://localhost:3000", true},
		{"the configured list replaces the default", hCustom, http.MethodPost, shop, "https://other.myshopify.com", false},
		{"the shop's own storefront stays allowed", hCustom, http.MethodPost, shop, "https://acme.myshopify.com", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec *httptest.ResponseRecorder
			if tc.method == http.MethodPost {
				headers := map[string]string{"Origin": tc.origin}
				ev["id"] = "ev-" + tc.name
				rec = post(t, tc.handler, "/v1/pixel/"+tc.shop, ev, headers)
			} else {
				req := httptest.NewRequest(http.MethodOptions, "/v1/pixel/"+tc.shop, nil)
				req.Header.Set("Origin", tc.origin)
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "content-type")
				rec = httptest.NewRecorder()
				tc.handler.ServeHTTP(rec, req)
			}
			acao := rec.Header().Get("Access-Control-Allow-Origin")
			if !strings.Contains(rec.Header().Get("Vary"), "Origin") {
				t.Errorf("Vary = %q, want Origin: the answer depends on it", rec.Header().Get("Vary"))
			}
			switch {
			case !tc.allowed:
				if rec.Code != http.StatusForbidden || acao != "" {
					t.Fatalf("status %d, Access-Control-Allow-Origin %q; want 403 without it", rec.Code, acao)
				}
			case tc.method == http.MethodOptions:
				if rec.Code != http.StatusNoContent || acao != tc.origin ||
					rec.Header().Get("Access-Control-Allow-Methods") != "POST" || rec.Header().Get("Access-Control-Allow-Headers") != "Content-Type" {
					t.Fatalf("preflight: status %d, headers %v", rec.Code, rec.Header())
				}
			default:
				decode(t, rec, http.StatusOK)
				stored++
				if acao != tc.origin {
					t.Errorf("Access-Control-Allow-Origin = %q, want %q", acao, tc.origin)
				}
			}
			if got := len(testenv.Interactions(t, pool, "true")); got != stored {
				t.Errorf("%d rows stored, want %d", got, stored)
			}
		})
	}
}

func TestParseOrigins(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"shop.example.com", "ftp://shop.example.com", "https://", "https://shop.example.com/path",
		"https://a.*.example.com", "https://*.", "https://user@shop.example.com", "https://shop.example.com?q=1"} {
		if _, err := pixel.ParseOrigins(bad); err == nil || !strings.Contains(err.Error(), "origin") {
			t.Errorf("ParseOrigins(%q) = %v, want an error naming the origin", bad, err)
		}
	}
	o, err := pixel.ParseOrigins(" https://Shop.Example.com/ ,https://*.example.org,, null")
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"https://shop.example.com": true, "https://a.example.org": true, "https://a.b.example.org": true, "null": true,
		"https://example.org": false, "http://a.example.org": false, "https://shop.example.com:8443": false,
	} {
		if got := o.Allows(origin, "some-shop"); got != want {
			t.Errorf("Allows(%q) = %v, want %v", origin, got, want)
		}
	}
}
