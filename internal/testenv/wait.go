package testenv

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds, and fails the test, saying what did
// not happen, if it still does not after limit. A test waits for the
// condition it needs rather than sleeping for a time that a busy machine
// may exceed; limit is only the point at which waiting longer is useless,
// so make it generous: a passing test never waits that long.
func WaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for this, in vain: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
