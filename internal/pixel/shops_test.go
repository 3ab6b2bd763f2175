package pixel_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestPixelIdsArePerShop checks that an event is a duplicate only of the
// same shop's event: another shop that stored the same row id first, by
// accident or on purpose, neither hides it nor is touched by it.
func TestPixelIdsArePerShop(t *testing.T) {
	t.Parallel()
	h, pool := newHandler(t, pixel.Config{})
	view := func(id string) map[string]any {
		return pixelEvent("product_viewed", id, t0, productPage, map[string]any{"productVariant": variant("7234567890123")})
	}
	// Another shop's backend ingests the row id that tenant-b's pixel
	// event shared-1 is stored under.
	squatter := ingest.Interaction{ID: "tenant-b/shared-1", ShopID: "attacker", EventType: "page_viewed", CreatedAt: t0}
	if _, err := ingest.NewWriter(store.New(pool)).Ingest(context.Background(), ingest.Rows{squatter}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		shop, event          string
		inserted, duplicates int64
	}{
		{"tenant-a", "shared-1", 1, 0},
		{"tenant-b", "shared-1", 1, 0},
		{"tenant-b", "shared-1", 0, 1}, // sent again: the same shop's duplicate
	} {
		got := decode(t, post(t, h, "/v1/pixel/"+step.shop, view(step.event), nil), http.StatusOK)
		if got.Inserted != step.inserted || got.Duplicates != step.duplicates {
			t.Errorf("event %s of %s: %+v, want %d inserted, %d duplicates", step.event, step.shop, got, step.inserted, step.duplicates)
		}
	}
	for shop, want := range map[string]string{"tenant-a": "product_viewed", "tenant-b": "product_viewed", "attacker": "page_viewed"} {
		rows := testenv.Interactions(t, pool, "shop_id = $1", shop)
		if len(rows) != 1 {
			t.Errorf("shop %s has %d rows, want 1: %+v", shop, len(rows), rows)
			continue
		}
		if rows[0].EventType != want || !rows[0].CreatedAt.Equal(t0.Truncate(time.Millisecond)) {
			t.Errorf("shop %s stored %+v, want its own %s", shop, rows[0], want)
		}
	}
}
