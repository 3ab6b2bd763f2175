package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestOpenTurnsJITOff checks that the pool's connections compile no query
// unless the URL asks for it: a scan's estimate crosses jit_above_cost and
// compiling costs more than the scan.
func TestOpenTurnsJITOff(t *testing.T) {
	_, url := testenv.Postgres(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, tc := range []struct{ url, want string }{
		{url, "off"},
		{url + sep + "jit=on", "on"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pool, err := store.Open(ctx, tc.url)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var got string
		err = pool.QueryRow(ctx, `SHOW jit`).Scan(&got)
		pool.Close()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("jit = %q with url ...%s, want %q", got, strings.TrimPrefix(tc.url, url), tc.want)
		}
	}
}
