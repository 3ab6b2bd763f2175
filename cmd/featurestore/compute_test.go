package main

import (
	"context"
	"strings"
	"testing"

	"github.com/featurestore/featurestore/internal/testenv"
)

// TestComputeCommandPastAsOf runs `featurestore compute` at 2025-06-01,
// then at 1970-01-02: refused, naming both instants and the flag that
// allows it, with the table unchanged; then allowed with
// --allow-past-as-of.
func TestComputeCommandPastAsOf(t *testing.T) {
	t.Parallel()
	pool, url := testenv.GoldenPostgres(t)
	compute := func(args ...string) error {
		return run(context.Background(), append([]string{"compute", "--database-url", url, "--shop", "shop-0", "--log-level", "error"}, args...))
	}
	if err := compute("--as-of", "2025-06-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	stored := len(testenv.StoredRows(t, pool, "shop-0"))

	err := compute("--as-of", "1970-01-02T00:00:00Z")
	if err == nil || !strings.Contains(err.Error(), "1970-01-02T00:00:00Z") || !strings.Contains(err.Error(), "2025-06-01T00:00:00Z") ||
		!strings.Contains(err.Error(), "--allow-past-as-of") {
		t.Errorf("compute at 1970-01-02 after 2025-06-01: %v; want a refusal naming both instants and --allow-past-as-of", err)
	}
	if n := len(testenv.StoredRows(t, pool, "shop-0")); n != stored {
		t.Fatalf("the refused run left %d rows of %d", n, stored)
	}

	if err := compute("--as-of", "1970-01-02T00:00:00Z", "--allow-past-as-of"); err != nil {
		t.Fatalf("compute --allow-past-as-of: %v", err)
	}
	if n := len(testenv.StoredRows(t, pool, "shop-0")); n != 0 {
		t.Errorf("the run at 1970-01-02 left %d rows; nothing had happened yet", n)
	}
}
