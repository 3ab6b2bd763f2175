package compute_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestRunRefusesAPastAsOf runs a golden shop at june, then asks for runs at
// earlier instants: each must be refused, naming its as_of and june, and
// leave the table exactly as it was.
func TestRunRefusesAPastAsOf(t *testing.T) {
	t.Parallel()
	pool := goldenDB(t)
	e := newEngine(t, pool, nil)
	mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full})
	before := testenv.StoredRows(t, pool, "shop-0")
	epoch := time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, req := range []compute.Request{
		{ShopID: "shop-0", AsOf: epoch, Mode: compute.Full},
		{ShopID: "shop-0", AsOf: march, Mode: compute.Incremental},
		{ShopID: "shop-0", AsOf: june.Add(-time.Microsecond), Mode: compute.Full, CustomerIDs: []string{customer(1)}},
	} {
		_, err := e.Run(context.Background(), req, nil)
		if !errors.Is(err, store.ErrPastAsOf) || !strings.Contains(err.Error(), req.AsOf.Format(time.RFC3339Nano)) ||
			!strings.Contains(err.Error(), june.Format(time.RFC3339Nano)) {
			t.Errorf("%s run at %s after a run at %s: %v; want store.ErrPastAsOf naming both instants", req.Mode, req.AsOf, june, err)
		}
		if after := testenv.StoredRows(t, pool, "shop-0"); !reflect.DeepEqual(after, before) {
			t.Fatalf("a refused run at %s changed the table: %d rows before, %d after", req.AsOf, len(before), len(after))
		}
	}
}

// TestRunAllowsAPastAsOfOnPurpose checks the ways a run may go back: asked
// with AllowPastAsOf, and at the server's clock after a run whose as_of a
// client set a few minutes ahead of it.
func TestRunAllowsAPastAsOfOnPurpose(t *testing.T) {
	t.Parallel()
	pool := goldenDB(t)
	e := newEngine(t, pool, nil)
	mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: june, Mode: compute.Full})

	sum := mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: march, Mode: compute.Full, AllowPastAsOf: true})
	if !sum.AsOf.Equal(march) {
		t.Errorf("the run allowed into the past ran at %s, want %s", sum.AsOf, march)
	}
	testenv.CompareRows(t, "shop-0", testenv.StoredRows(t, pool, "shop-0"),
		testenv.ReadExpected(t, "expected_interaction_features_as_of_2025-03-01.csv"), march)
	// The last run is now at march: a run between march and june is not
	// in the past of it.
	mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: march.Add(time.Hour), Mode: compute.Incremental})

	ahead := time.Now().Add(3 * time.Minute)
	mustRun(t, e, compute.Request{ShopID: "shop-0", AsOf: ahead, Mode: compute.Full})
	if sum := mustRun(t, e, compute.Request{ShopID: "shop-0", Mode: compute.Full}); !sum.AsOf.Before(ahead) {
		t.Errorf("the run at the server's clock ran at %s, after the as_of %s set ahead of it", sum.AsOf, ahead)
	}
}
