package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/testenv"
)

// TestServeTakesPixelEvents runs serve with --http-addr, posts a pixel
// event, and checks that it is stored and that the server stops cleanly.
func TestServeTakesPixelEvents(t *testing.T) {
	t.Parallel()
	pool, url := testenv.Postgres(t)
	httpAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--database-url", url, "--redis-url=", "--addr", freeAddr(t), "--metrics-addr=",
			"--http-addr", httpAddr, "--log-level", "error"})
	}()

	body := `{"id": "ev-1", "name": "page_viewed", "timestamp": "2025-05-20T10:00:00Z", "clientId": "c-1"}`
	deadline := time.Now().Add(time.Minute)
	var resp *http.Response
	for {
		var err error
		resp, err = http.Post("http://"+httpAddr+"/v1/pixel/shop-1", "text/plain", strings.NewReader(body))
		if err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pixel endpoint did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if got := testenv.Interactions(t, pool, "true"); len(got) != 1 || got[0].ID != "shop-1/ev-1" {
		t.Errorf("stored %+v, want the event", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop after its context ended")
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
