package ingest_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// FuzzIngest checks Validate against Postgres itself: a row Validate
// accepts must be stored exactly as sent, and a row it rejects must store
// nothing. A stored row is deleted again after its check, so ids may
// repeat across inputs. nulls has one bit per optional column; metadata is
// sent as given, JSON or not.
func FuzzIngest(f *testing.F) {
	now := time.Now()
	f.Add("ev-1", "shop-1", "gid://shopify/Customer/1", "gid://shopify/Product/2", "product_viewed", "search", "mobile", "social", 12.5, uint8(0), now.Unix()-3600, int64(0), "client-1", `{"quantity": 1}`)
	f.Add("ev-2", "shop-1", "", "", "page_viewed", "", "", "", 0.0, uint8(0xff), now.Unix(), int64(999_999_999), "", "")
	f.Add("ev\x00", "shop", "c", "p", "view", "x", "y", "z", -1.0, uint8(0), now.Unix(), int64(0), "k\x00", `{}`)
	f.Add("ev-3", "shöp", "c", "p", " \t", "x", "y", "z", math.NaN(), uint8(0), now.Unix(), int64(0), "k", `[1]`)
	f.Add("ev-4", "shop", "c", "p", "view", "x", "y", "z", math.Inf(1), uint8(0), now.Unix()+3600, int64(0), "k", `{"a": "\u0000"}`)
	f.Add("ev-5", "shop", "c\xff", "p", "view", "x", "y", "z", 1e308, uint8(0), int64(-62135596800), int64(0), "k", `{"a": 1e400, "b": "\ud800"}`)
	f.Add("ev-6", "shop", "c", "p", "view", "x", "y", "z", 3.0, uint8(0), int64(-62135596801), int64(0), "k", `{"a": "\\u0000"}`)
	f.Add(string(make([]byte, 256)), "shop", "c", "p", "view", "x", "y", "z", 3.0, uint8(0), int64(0), int64(-1), "k", `{"a":`)

	pool, _ := testenv.Postgres(f)
	w := ingest.NewWriter(store.New(pool))
	f.Fuzz(func(t *testing.T, id, shop, customer, product, eventType, pageType, deviceType, referrer string,
		duration float64, nulls uint8, unixSeconds, nanos int64, client, metadata string) {
		optional := func(bit int, v string) *string {
			if nulls&(1<<bit) != 0 {
				return nil
			}
			return &v
		}
		r := ingest.Interaction{
			ID: id, ShopID: shop, EventType: eventType,
			CustomerID: optional(0, customer), ProductID: optional(1, product), PageType: optional(2, pageType),
			DeviceType: optional(3, deviceType), ReferrerType: optional(4, referrer),
			CreatedAt: time.Unix(unixSeconds, nanos).UTC(), ClientID: optional(6, client),
		}
		if nulls&(1<<7) == 0 {
			r.Metadata = []byte(metadata)
		}
		if nulls&(1<<5) == 0 {
			r.ViewDuration = &duration
		}

		ctx := context.Background()
		_, err := w.Ingest(ctx, ingest.Rows{r})
		var verr *ingest.ValidationError
		switch {
		case errors.As(err, &verr):
			// Rejected before anything was written.
			if got := testenv.Interactions(t, pool, "true"); len(got) != 0 {
				t.Fatalf("a rejected row was stored: %+v", got)
			}
		case err != nil:
			t.Fatalf("Validate accepted a row that Postgres refused: %v\nrow: %+v", err, r)
		default:
			defer func() {
				if _, err := pool.Exec(context.WithoutCancel(ctx), `DELETE FROM user_interactions`); err != nil {
					t.Fatal(err)
				}
			}()
			got := testenv.Interactions(t, pool, "true")
			if len(got) != 1 {
				t.Fatalf("%d rows stored, want 1", len(got))
			}
			if d := testenv.DiffInteraction(got[0], r); d != "" {
				t.Fatalf("stored row differs from the one sent: %s", d)
			}
		}
	})
}
