package pixel

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

// TestLimitersBoundMemory adds far more clients than the bound: the
// buckets held stay within twice the bound, and a client active all along
// keeps its (empty) bucket through the generations.
func TestLimitersBoundMemory(t *testing.T) {
	t.Parallel()
	l := newLimiters(Limit{Rate: 0.001, Burst: 1}, 10)
	now := time.Now()
	if ok, _ := l.allow("active", now); !ok {
		t.Fatal("the first request was refused")
	}
	for i := range 1000 {
		if ok, _ := l.allow(fmt.Sprint("client-", i), now); !ok {
			t.Fatalf("client %d's first request was refused", i)
		}
		if ok, wait := l.allow("active", now); ok || wait < time.Second {
			t.Fatalf("after %d other clients the active client's empty bucket was forgotten (wait %s)", i, wait)
		}
		if n := l.tracked(); n > 20 {
			t.Fatalf("%d buckets held, bound 2 x 10", n)
		}
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	proxies, err := ParseProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote, xff string
		trusted     bool
		want        string
	}{
		{"198.51.100.1:5", "", false, "198.51.100.1"},
		{"198.51.100.1:5", "203.0.113.1", false, "198.51.100.1"},
		{"10.1.1.1:5", "203.0.113.1", true, "203.0.113.1"},
		{"10.1.1.1:5", "203.0.113.1, 10.2.2.2", true, "203.0.113.1"},
		{"10.1.1.1:5", "6.6.6.6, 203.0.113.1", true, "203.0.113.1"},
		{"10.1.1.1:5", "garbage", true, "10.1.1.1"},
		{"10.1.1.1:5", "", true, "10.1.1.1"},
		{"[::ffff:198.51.100.1]:5", "", false, "198.51.100.1"},
		{"[2001:db8:a:b:c:d:e:f]:5", "", false, "2001:db8:a:b::/64"},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		var trusted = proxies
		if !tc.trusted {
			trusted = nil
		}
		if got := clientKey(r, trusted); got != tc.want {
			t.Errorf("clientKey(%s, X-Forwarded-For %q, trusted %v) = %q, want %q", tc.remote, tc.xff, tc.trusted, got, tc.want)
		}
	}
}
