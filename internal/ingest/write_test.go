package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// recentAt is a minute before the tests started: it passes the writer's
// own clock.
var recentAt = time.Now().Add(-time.Minute).Truncate(time.Millisecond)

// recent returns a valid row created at recentAt.
func recent(id string) ingest.Interaction {
	r := validRow(id)
	r.CreatedAt = recentAt
	return r
}

func TestIngest(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	w := ingest.NewWriter(store.New(pool))
	ctx := context.Background()

	anonymous := recent("ev-anonymous")
	anonymous.CustomerID, anonymous.ProductID, anonymous.PageType, anonymous.DeviceType, anonymous.ReferrerType, anonymous.ViewDuration = nil, nil, nil, nil, nil, nil
	changed := recent("ev-1")
	changed.EventType, changed.ViewDuration = "checkout_completed", nil
	repeated := recent("ev-3")
	repeated.EventType = "product_added_to_cart" // the same shop and id, sent otherwise

	for _, step := range []struct {
		name                 string
		batch                ingest.Rows
		inserted, duplicates int64
		storedAfter          []ingest.Interaction // the whole table, in id order
	}{
		{
			name:        "new rows are stored as sent",
			batch:       ingest.Rows{recent("ev-1"), anonymous, recent("ev-2")},
			inserted:    3,
			storedAfter: []ingest.Interaction{recent("ev-1"), recent("ev-2"), anonymous},
		},
		{
			name:        "a stored id is a duplicate and changes nothing",
			batch:       ingest.Rows{changed},
			duplicates:  1,
			storedAfter: []ingest.Interaction{recent("ev-1"), recent("ev-2"), anonymous},
		},
		{
			name:        "stored ids among new ones: the new are stored",
			batch:       ingest.Rows{recent("ev-4"), changed, recent("ev-5")},
			inserted:    2,
			duplicates:  1,
			storedAfter: []ingest.Interaction{recent("ev-1"), recent("ev-2"), recent("ev-4"), recent("ev-5"), anonymous},
		},
		{
			name:        "an id repeated within the batch is stored once, as first sent",
			batch:       ingest.Rows{recent("ev-3"), repeated, recent("ev-2"), repeated},
			inserted:    1,
			duplicates:  3,
			storedAfter: []ingest.Interaction{recent("ev-1"), recent("ev-2"), recent("ev-3"), recent("ev-4"), recent("ev-5"), anonymous},
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
			compareStored(t, testenv.Interactions(t, pool, "true"), step.storedAfter)
		})
	}
}

// TestIngestRejectsWholeBatch sends batches with one bad row among good
// ones: none of their rows may be stored.
func TestIngestRejectsWholeBatch(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	w := ingest.NewWriter(store.New(pool))
	ctx := context.Background()
	future := recent("ev-future")
	future.CreatedAt = time.Now().Add(time.Hour)
	batch := make(ingest.Rows, 0, 1001)
	for i := range 1000 {
		batch = append(batch, recent(fmt.Sprintf("ev-%04d", i)))
	}
	batch = append(batch[:500], append(ingest.Rows{future}, batch[500:]...)...)

	_, err := w.Ingest(ctx, batch)
	var verr *ingest.ValidationError
	if !errors.As(err, &verr) || verr.Total != 1 || verr.Violations[0].Row != 500 || verr.Violations[0].Field != "created_at" {
		t.Fatalf("Ingest = %v, want a violation of row 500's created_at", err)
	}
	if got := testenv.Interactions(t, pool, "true"); len(got) != 0 {
		t.Fatalf("a rejected batch stored %d rows", len(got))
	}
}

func TestIngestCancelledStoresNothing(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ingest.NewWriter(store.New(pool)).Ingest(ctx, ingest.Rows{recent("a")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Ingest with a cancelled context = %v, want context.Canceled", err)
	}
	if got := testenv.Interactions(t, pool, "true"); len(got) != 0 {
		t.Fatalf("%d rows stored", len(got))
	}
}

func compareStored(t *testing.T, got, want []ingest.Interaction) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows stored, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if d := testenv.DiffInteraction(got[i], want[i]); d != "" {
			t.Errorf("row %s: %s", want[i].ID, d)
		}
	}
}

var _ testenv.Querier = pgx.Tx(nil)

// TestIngestIntoExistingTable writes into a user_interactions that a shop
// sync created before featurestore's migration, with a timestamp column
// without a zone and numeric durations: both write paths must store the
// right instant and value.
func TestIngestIntoExistingTable(t *testing.T) {
	t.Parallel()
	url := testenv.DatabaseURL(t)
	ctx := context.Background()
	pool, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE user_interactions (
    id varchar(255) PRIMARY KEY, shop_id varchar(255), customer_id varchar(255), product_id varchar(255),
    event_type varchar(64), page_type varchar(64), device_type varchar(64), referrer_type varchar(64),
    view_duration numeric, created_at timestamp)`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Migrate(ctx, pool, testenv.Logger()); err != nil {
		t.Fatal(err)
	}
	w := ingest.NewWriter(store.New(pool))
	paris := time.FixedZone("Paris", 2*3600)
	row := func(id string) ingest.Interaction {
		r := recent(id)
		r.CreatedAt = time.Date(2025, 5, 20, 12, 30, 0, 0, paris)
		return r
	}
	// The first batch takes the direct copy, the second (with a stored id)
	// the stage table.
	for _, batch := range []ingest.Rows{{row("a")}, {row("a"), row("b")}} {
		if _, err := w.Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT id, created_at::text, view_duration::float8 FROM user_interactions ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type stored struct {
		ID, CreatedAt string
		Duration      float64
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[stored])
	if err != nil {
		t.Fatal(err)
	}
	want := []stored{{"a", "2025-05-20 10:30:00", 12.5}, {"b", "2025-05-20 10:30:00", 12.5}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v (created_at in UTC)", got, want)
	}
}
