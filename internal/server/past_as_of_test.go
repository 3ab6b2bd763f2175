package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestComputeFeaturesRefusesPastAsOf runs a shop at 2025-06-01, then asks
// for a run at 1970-01-02, which would empty the shop's table: it is
// refused with FAILED_PRECONDITION naming both instants and changes
// nothing, unless allow_past_as_of says that it is meant.
func TestComputeFeaturesRefusesPastAsOf(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	client := startServer(t, pool, nil)
	ctx := context.Background()
	june := mustTime(t, "2025-06-01T00:00:00Z")
	expected := testenv.ReadExpected(t, "expected_interaction_features.csv")
	if _, err := computeAll(ctx, t, client, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0", AsOf: timestamppb.New(june)}); err != nil {
		t.Fatal(err)
	}
	past := &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0", AsOf: timestamppb.New(time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC))}
	for _, mode := range []featurestorev1.ComputeMode{featurestorev1.ComputeMode_COMPUTE_MODE_FULL, featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL} {
		past.Mode = mode
		_, err := computeAll(ctx, t, client, past)
		msg := status.Convert(err).Message()
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(msg, "1970-01-02T00:00:00Z") ||
			!strings.Contains(msg, "2025-06-01T00:00:00Z") || !strings.Contains(msg, "allow_past_as_of") {
			t.Errorf("%s at 1970-01-02 after a run at 2025-06-01: %v; want FAILED_PRECONDITION naming both instants and allow_past_as_of", mode, err)
		}
		testenv.CompareRows(t, "shop-0", testenv.StoredRows(t, pool, "shop-0"), expected, june)
	}

	past.Mode, past.AllowPastAsOf = featurestorev1.ComputeMode_COMPUTE_MODE_FULL, true
	sum, err := computeAll(ctx, t, client, past)
	if err != nil {
		t.Fatalf("the same run with allow_past_as_of: %v", err)
	}
	if rows := testenv.StoredRows(t, pool, "shop-0"); len(rows) != 0 || sum.GetPairsDeleted() == 0 {
		t.Errorf("a run at 1970-01-02 deleted %d pairs and left %d rows; want every pair gone, as nothing had happened yet", sum.GetPairsDeleted(), len(rows))
	}
}
