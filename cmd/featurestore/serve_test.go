package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/featurestore/featurestore/internal/testenv"
)

// TestServeClosesListenersWhenOneFails starts serve with each of its
// listeners' addresses taken in turn: serve fails naming that flag, and
// every address it had bound before is free again, so that a supervisor
// restarting it finds them free.
func TestServeClosesListenersWhenOneFails(t *testing.T) {
	t.Parallel()
	_, url := testenv.Postgres(t)
	for _, taken := range []string{"--metrics-addr", "--http-addr", "--addr"} {
		t.Run(taken, func(t *testing.T) {
			addrs := map[string]string{"--metrics-addr": freeAddr(t), "--http-addr": freeAddr(t), "--addr": freeAddr(t)}
			busy, err := net.Listen("tcp", addrs[taken])
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			args := []string{"--database-url", url, "--log-level", "error"}
			for flag, addr := range addrs {
				args = append(args, flag, addr)
			}
			err = runServe(context.Background(), args)
			if err == nil || !strings.Contains(err.Error(), taken+" ") {
				t.Fatalf("serve with %s taken: %v, want an error naming %s", taken, err, taken)
			}
			for flag, addr := range addrs {
				if flag == taken {
					continue
				}
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("%s %s is still bound after serve failed: %v", flag, addr, err)
					continue
				}
				l.Close()
			}
		})
	}
}
