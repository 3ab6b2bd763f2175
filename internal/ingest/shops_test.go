package ingest_test

import (
	"context"
	"testing"

	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestIngestIdsArePerShop stores the same id for several shops, through
// each write path: the direct copy, the copy that fails on a stored key and
// falls back to the stage table, and the stage table for a batch that
// repeats an id. Two shops whose backends both number their events from 1
// must both keep them, and no shop can make another's event a duplicate.
func TestIngestIdsArePerShop(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	w := ingest.NewWriter(store.New(pool))
	ctx := context.Background()
	of := func(shop, id string) ingest.Interaction {
		r := recent(id)
		r.ShopID = shop
		return r
	}
	var stored []ingest.Interaction // every row stored so far
	for _, step := range []struct {
		name                 string
		batch                ingest.Rows
		inserted, duplicates int64
		stores               []ingest.Interaction
	}{
		{
			name:     "a new id of tenant-a (direct copy)",
			batch:    ingest.Rows{of("tenant-a", "shared-1")},
			inserted: 1,
			stores:   []ingest.Interaction{of("tenant-a", "shared-1")},
		},
		{
			name:     "the same id for tenant-b is new to tenant-b (direct copy)",
			batch:    ingest.Rows{of("tenant-b", "shared-1")},
			inserted: 1,
			stores:   []ingest.Interaction{of("tenant-b", "shared-1")},
		},
		{
			name:       "a stored id of tenant-b beside the same id for tenant-c (copy fails, stage)",
			batch:      ingest.Rows{of("tenant-b", "shared-1"), of("tenant-c", "shared-1")},
			inserted:   1,
			duplicates: 1,
			stores:     []ingest.Interaction{of("tenant-c", "shared-1")},
		},
		{
			name:       "one id for two shops within a batch, once repeated (stage)",
			batch:      ingest.Rows{of("tenant-a", "shared-2"), of("tenant-b", "shared-2"), of("tenant-a", "shared-2")},
			inserted:   2,
			duplicates: 1,
			stores:     []ingest.Interaction{of("tenant-a", "shared-2"), of("tenant-b", "shared-2")},
		},
	} {
		t.Run(step.name, func(t *testing.T) {
			res, err := w.Ingest(ctx, step.batch)
			if err != nil {
				t.Fatal(err)
			}
			if res.Inserted != step.inserted || res.Duplicates != step.duplicates {
				t.Errorf("result = %+v, want %d inserted, %d duplicates", res, step.inserted, step.duplicates)
			}
			stored = append(stored, step.stores...)
			for _, shop := range []string{"tenant-a", "tenant-b", "tenant-c"} {
				var want []ingest.Interaction
				for _, r := range stored {
					if r.ShopID == shop {
						want = append(want, r)
					}
				}
				compareStored(t, testenv.Interactions(t, pool, "shop_id = $1", shop), want)
			}
		})
	}
}
