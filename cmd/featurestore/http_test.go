package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestServeTakesPixelEvents runs serve with --http-addr, posts a pixel
// event with the shop's pixel key, and checks that it is stored, and that
// the same post without the key is refused.
func TestServeTakesPixelEvents(t *testing.T) {
	t.Parallel()
	pool, url := testenv.Postgres(t)
	key := createKey(t, pool, "shop-1-pixel", []string{"shop-1"}, auth.ScopePixel)
	httpAddr := freeAddr(t)
	body := `{"id": "ev-1", "name": "page_viewed", "timestamp": "2025-05-20T10:00:00Z", "clientId": "c-1"}`
	post := func(query string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/pixel/shop-1"+query, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Origin", "https://shop-1.myshopify.com")
		return http.DefaultClient.Do(req)
	}
	var resp *http.Response
	serveInProcess(t, []string{"--database-url", url, "--addr", freeAddr(t), "--metrics-addr=", "--http-addr", httpAddr, "--log-level", "error"},
		func() (err error) { resp, err = post("?key=" + key); return err })
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if got := testenv.Interactions(t, pool, "true"); len(got) != 1 || got[0].ID != "shop-1/ev-1" {
		t.Errorf("stored %+v, want the event", got)
	}
	resp, err := post("")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the key: status %d, want 401", resp.StatusCode)
	}
}

func TestServeRejectsBadPixelOrigins(t *testing.T) {
	t.Parallel()
	err := runServe(context.Background(), []string{"--database-url", "postgres://u@127.0.0.1/db", "--pixel-origins", "ftp://shop.example.com"})
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--pixel-origins") {
		t.Fatalf("serve with a bad --pixel-origins: %v, want a usage error naming the flag", err)
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
