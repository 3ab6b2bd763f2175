package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// handedOut holds the ports freeAddr has given, so that two tests of the
// package never get the same one.
var handedOut sync.Map

// freeAddr returns a loopback address with a port nothing listens on, for a
// server the test starts. The port lies below the kernel's ephemeral range
// (32768 and up here and by default), so that no outgoing connection of
// this or another process takes it as its local port between this check
// and the server's bind, as happens with a port the kernel picks.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatal("no free port between 20000 and 32000 on 127.0.0.1")
	return ""
}
