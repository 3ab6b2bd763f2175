package pixel_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// storeKey creates a key and returns its secret.
func storeKey(t *testing.T, st *store.Store, name, shop string, scopes auth.Scope, origins ...string) string {
	t.Helper()
	id, secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	hash := auth.HashSecret(secret)
	if _, _, err := st.CreateKey(context.Background(), store.APIKey{ID: id, Name: name, SecretHash: hash[:], Shops: []string{shop}, Scopes: scopes.Names(), Origins: origins}, false); err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestPixelKeys posts with and without the shop's pixel key, from allowed
// and refused origins: only a key of the shop, from an origin it allows,
// stores anything.
func TestPixelKeys(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	acme := storeKey(t, st, "acme-pixel", shop, auth.ScopePixel)
	custom := storeKey(t, st, "custom-pixel", "shop-2", auth.ScopePixel, "https://www.shop2.example", "https://*.shop2.example")
	other := storeKey(t, st, "other-pixel", "other.myshopify.com", auth.ScopePixel)
	ingestKey := storeKey(t, st, "acme-ingest", shop, auth.ScopeIngest)
	revoked := storeKey(t, st, "old-pixel", shop, auth.ScopePixel)
	if _, err := st.RevokeKey(context.Background(), "old-pixel"); err != nil {
		t.Fatal(err)
	}
	_, unknown, _ := auth.NewSecret()
	v, err := auth.NewVerifier(st, auth.Config{}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	h := pixel.NewHandler(st, pixel.Config{Keys: v}, testenv.Logger())
	stored := 0

	for _, tc := range []struct {
		name, method, shop, key, origin string
		status                          int
		says                            string
	}{
		{"no key", "POST", shop, "", "https://acme.myshopify.com", 401, "a pixel key is required"},
		{"malformed key", "POST", shop, "abc", "https://acme.myshopify.com", 401, "malformed"},
		{"unknown key", "POST", shop, unknown, "https://acme.myshopify.com", 401, "not valid"},
		{"revoked key", "POST", shop, revoked, "https://acme.myshopify.com", 401, "revoked"},
		{"another shop's key", "POST", shop, other, "https://acme.myshopify.com", 403, `API key "other-pixel" does not cover shop "acme.myshopify.com"`},
		{"a secret key that is not a pixel key", "POST", shop, ingestKey, "https://acme.myshopify.com", 403, "lacks the scope pixel"},
		{"the shop's key from its storefront", "POST", shop, acme, "https://acme.myshopify.com", 200, ""},
		{"the shop's key from Shopify's pixel sandbox", "POST", shop, acme, "null", 200, ""},
		{"the shop's key from another site", "POST", shop, acme, "https://evil.example", 403, `origin "https://evil.example" may not send events for shop "acme.myshopify.com" with pixel key "acme-pixel"`},
		{"the shop's key without an Origin", "POST", shop, acme, "", 403, "no Origin header"},
		{"a key's own origin", "POST", "shop-2", custom, "https://www.shop2.example", 200, ""},
		{"a key's own wildcard origin", "POST", "shop-2", custom, "https://eu.shop2.example", 200, ""},
		{"a key's origins replace the default", "POST", "shop-2", custom, "https://shop-2.myshopify.com", 403, "may not send events"},
		{"preflight with the shop's key", "OPTIONS", shop, acme, "https://acme.myshopify.com", 204, ""},
		{"preflight without a key", "OPTIONS", shop, "", "https://acme.myshopify.com", 401, "a pixel key is required"},
		{"preflight from another site", "OPTIONS", shop, acme, "https://evil.example", 403, "may not send events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/pixel/" + tc.shop
			if tc.key != "" {
				path += "?key=" + tc.key
			}
			var rec *httptest.ResponseRecorder
			if tc.method == "POST" {
				rec = post(t, h, path, pixelEvent("page_viewed", "ev-"+tc.name, t0, productPage, nil), map[string]string{"Origin": tc.origin})
			} else {
				req := httptest.NewRequest(http.MethodOptions, path, nil)
				req.Header.Set("Origin", tc.origin)
				req.Header.Set("Access-Control-Request-Method", "POST")
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, req)
			}
			if tc.status == 204 {
				if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != tc.origin {
					t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
				}
			} else {
				a := decode(t, rec, tc.status)
				if !strings.Contains(a.Error, tc.says) {
					t.Errorf("error %q, want it to say %q", a.Error, tc.says)
				}
				if tc.status == 200 {
					stored++
				} else if acao := rec.Header().Get("Access-Control-Allow-Origin"); acao != "" {
					t.Errorf("a refused request lets %q read the answer", acao)
				}
			}
			if got := len(testenv.Interactions(t, pool, "true")); got != stored {
				t.Errorf("%d rows stored, want %d", got, stored)
			}
		})
	}
}

// TestPixelRateLimits sends bursts over the limits: of one address, of
// one shop, of clients behind a trusted proxy, of one IPv6 network.
// Refused requests get 429 with Retry-After and store nothing. The rates
// are so low that no token comes back during the test, however slow the
// machine.
func TestPixelRateLimits(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	slow := pixel.Limit{Rate: 0.001, Burst: 3}
	send := func(t *testing.T, h http.Handler, shopID, remote string, headers map[string]string) *httptest.ResponseRecorder {
		t.Helper()
		ev := pixelEvent("page_viewed", "ev-"+strconv.FormatInt(time.Now().UnixNano(), 36), t0, productPage, nil)
		body := strings.NewReader(mustJSON(t, ev))
		req := httptest.NewRequest(http.MethodPost, "/v1/pixel/"+shopID, body)
		req.RemoteAddr = remote
		req.Header.Set("Origin", "https://"+shopID)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	refused := func(t *testing.T, rec *httptest.ResponseRecorder, says string) {
		t.Helper()
		a := decode(t, rec, http.StatusTooManyRequests)
		if !strings.Contains(a.Error, says) {
			t.Errorf("error %q, want it to say %q", a.Error, says)
		}
		if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After = %q, want whole seconds", rec.Header().Get("Retry-After"))
		}
	}
	rows := func() int { return len(testenv.Interactions(t, pool, "true")) }

	t.Run("one address", func(t *testing.T) {
		h := pixel.NewHandler(st, pixel.Config{IPLimit: slow}, testenv.Logger())
		before := rows()
		for range 3 {
			decode(t, send(t, h, shop, "198.51.100.7:4000", nil), http.StatusOK)
		}
		refused(t, send(t, h, shop, "198.51.100.7:4001", nil), "too many requests from this address")
		// A forged X-Forwarded-For does not make a new client without a
		// trusted proxy.
		refused(t, send(t, h, shop, "198.51.100.7:4002", map[string]string{"X-Forwarded-For": "203.0.113.99"}), "from this address")
		decode(t, send(t, h, shop, "198.51.100.8:4000", nil), http.StatusOK)
		if got := rows() - before; got != 4 {
			t.Errorf("%d rows stored, want 4", got)
		}
	})
	t.Run("one shop", func(t *testing.T) {
		h := pixel.NewHandler(st, pixel.Config{ShopLimit: pixel.Limit{Rate: 0.001, Burst: 2}}, testenv.Logger())
		before := rows()
		decode(t, send(t, h, "shop-a.example", "192.0.2.1:1", nil), http.StatusOK)
		decode(t, send(t, h, "shop-a.example", "192.0.2.2:1", nil), http.StatusOK)
		refused(t, send(t, h, "shop-a.example", "192.0.2.3:1", nil), `too many requests for shop "shop-a.example"`)
		decode(t, send(t, h, "shop-b.example", "192.0.2.3:1", nil), http.StatusOK)
		if got := rows() - before; got != 3 {
			t.Errorf("%d rows stored, want 3", got)
		}
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		proxies, err := pixel.ParseProxies("10.0.0.0/8, 192.168.1.1")
		if err != nil {
			t.Fatal(err)
		}
		h := pixel.NewHandler(st, pixel.Config{IPLimit: pixel.Limit{Rate: 0.001, Burst: 1}, TrustedProxies: proxies}, testenv.Logger())
		decode(t, send(t, h, shop, "10.0.0.1:1", map[string]string{"X-Forwarded-For": "203.0.113.5"}), http.StatusOK)
		decode(t, send(t, h, shop, "10.0.0.1:1", map[string]string{"X-Forwarded-For": "203.0.113.6, 192.168.1.1"}), http.StatusOK)
		// The client cannot hide behind an address it prepends itself.
		refused(t, send(t, h, shop, "10.0.0.2:1", map[string]string{"X-Forwarded-For": "1.2.3.4, 203.0.113.5"}), "from this address")
	})
	t.Run("one IPv6 network", func(t *testing.T) {
		h := pixel.NewHandler(st, pixel.Config{IPLimit: pixel.Limit{Rate: 0.001, Burst: 1}}, testenv.Logger())
		decode(t, send(t, h, shop, "[2001:db8:1:2::1]:1", nil), http.StatusOK)
		refused(t, send(t, h, shop, "[2001:db8:1:2::ffff]:1", nil), "from this address")
		decode(t, send(t, h, shop, "[2001:db8:1:3::1]:1", nil), http.StatusOK)
	})
}

func TestParseProxies(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "10.0.0.1:80"} {
		if _, err := pixel.ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
		}
	}
	p, err := pixel.ParseProxies(" 10.1.2.3/8 ,, ::1, 192.0.2.1")
	if err != nil || len(p) != 3 || p[0].String() != "10.0.0.0/8" || p[1].String() != "::1/128" || p[2].String() != "192.0.2.1/32" {
		t.Errorf("ParseProxies = %v, %v", p, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
