package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestCustomerRangesCoverEveryCustomer splits a shop and checks that every
// customer falls in exactly one range, and that the ranges share the events
// out fairly.
func TestCustomerRangesCoverEveryCustomer(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
SELECT 'e' || g, 's', 'c' || (g % 97), 'p' || (g % 13), 'view', now() FROM generate_series(1, 5000) g`)
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := store.New(pool).CustomerRanges(ctx, "s", 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(ranges) != 4 || ranges[0].From != "" || ranges[len(ranges)-1].To != "" {
		t.Fatalf("ranges %v: want 4, open at both ends", ranges)
	}
	rows, _ := pool.Query(ctx, `SELECT customer_id, count(*) FROM user_interactions GROUP BY 1`)
	type customer struct {
		ID     string
		Events int
	}
	customers, err := pgx.CollectRows(rows, pgx.RowToStructByPos[customer])
	if err != nil {
		t.Fatal(err)
	}
	events := make([]int, len(ranges))
	for _, c := range customers {
		var in []int
		for i, r := range ranges {
			if (r.From == "" || c.ID >= r.From) && (r.To == "" || c.ID < r.To) {
				in = append(in, i)
				events[i] += c.Events
			}
		}
		if len(in) != 1 {
			t.Errorf("customer %s is in ranges %v, want exactly one", c.ID, in)
		}
	}
	for i, n := range events {
		if n < 5000/4/2 || n > 5000/4*2 {
			t.Errorf("range %d (%v) holds %d of 5000 events: not about a quarter", i, ranges[i], n)
		}
	}
}
