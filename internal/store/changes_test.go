package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// changesFixture is a small shop written before each case, its log then
// emptied: customer c1 has order o1 with a line of p1 without a price (p1
// costs 3 in product_data) and a line of p2 at 5; c1 viewed p1 and c2
// viewed p3.
const changesFixture = `
INSERT INTO product_data (id, shop_id, product_id, price) VALUES ('$shop/p1', '$shop', 'p1', 3), ('$shop/p2', '$shop', 'p2', 4);
INSERT INTO order_data (id, shop_id, order_id, customer_id, created_at) VALUES ('$shop/o1', '$shop', 'o1', 'c1', '2025-01-01');
INSERT INTO line_item_data (id, shop_id, order_id, product_id, quantity, price) VALUES
    ('$shop/l1', '$shop', 'o1', 'p1', 1, NULL), ('$shop/l2', '$shop', 'o1', 'p2', 2, 5);
INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at) VALUES
    ('$shop/e1', '$shop', 'c1', 'p1', 'view', '2025-01-01'), ('$shop/e2', '$shop', 'c2', 'p3', 'view', '2025-01-02');`

// TestChangeLogNamesChangedPairs writes to the input tables the way a shop
// sync might and checks that the log, resolved by a run, names exactly the
// pairs whose inputs changed.
func TestChangeLogNamesChangedPairs(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	for i, tc := range []struct {
		name  string
		write string
		want  []string // "customer/product"
	}{
		{"new event", `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
			VALUES ('$shop/e9', '$shop', 'c1', 'p9', 'view', '2025-02-01')`, []string{"c1/p9"}},
		{"late event of a known pair", `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
			VALUES ('$shop/e9', '$shop', 'c2', 'p3', 'view', '2020-01-01')`, []string{"c2/p3"}},
		{"anonymous and undated events", `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
			VALUES ('$shop/e8', '$shop', NULL, 'p1', 'view', '2025-02-01'), ('$shop/e9', '$shop', 'c1', 'p1', 'view', NULL),
			       ('$shop/e7', '$shop', '', 'p1', 'view', '2025-02-01')`, nil},
		{"event moved to another product", `UPDATE user_interactions SET product_id = 'p4' WHERE id = '$shop/e2'`, []string{"c2/p3", "c2/p4"}},
		{"event rewritten unchanged", `UPDATE user_interactions SET product_id = product_id`, nil},
		{"event deleted", `DELETE FROM user_interactions WHERE id = '$shop/e2'`, []string{"c2/p3"}},
		{"order, then its lines", `
			INSERT INTO order_data (id, shop_id, order_id, customer_id, created_at) VALUES ('$shop/o2', '$shop', 'o2', 'c3', '2025-02-01');
			INSERT INTO line_item_data (id, shop_id, order_id, product_id, quantity) VALUES ('$shop/l3', '$shop', 'o2', 'p5', 1)`,
			[]string{"c3/p5"}},
		{"lines, then their order", `
			INSERT INTO line_item_data (id, shop_id, order_id, product_id, quantity) VALUES ('$shop/l3', '$shop', 'o2', 'p5', 1);
			INSERT INTO order_data (id, shop_id, order_id, customer_id, created_at) VALUES ('$shop/o2', '$shop', 'o2', 'c3', '2025-02-01')`,
			[]string{"c3/p5"}},
		{"guest order", `
			INSERT INTO order_data (id, shop_id, order_id, customer_id, created_at) VALUES ('$shop/o2', '$shop', 'o2', NULL, '2025-02-01');
			INSERT INTO line_item_data (id, shop_id, order_id, product_id, quantity) VALUES ('$shop/l3', '$shop', 'o2', 'p5', 1)`, nil},
		{"order moved to another customer", `UPDATE order_data SET customer_id = 'c4' WHERE id = '$shop/o1'`,
			[]string{"c1/p1", "c1/p2", "c4/p1", "c4/p2"}},
		{"order total changed", `UPDATE order_data SET total_price = 99`, nil},
		{"order deleted with its lines", `
			DELETE FROM line_item_data WHERE order_id = 'o1';
			DELETE FROM order_data WHERE order_id = 'o1'`, []string{"c1/p1", "c1/p2"}},
		{"order deleted before its lines", `
			DELETE FROM order_data WHERE order_id = 'o1';
			DELETE FROM line_item_data WHERE order_id = 'o1'`, []string{"c1/p1", "c1/p2"}},
		{"line price changed", `UPDATE line_item_data SET price = 6 WHERE id = '$shop/l2'`, []string{"c1/p2"}},
		{"price of a product its unpriced line falls back to", `UPDATE product_data SET price = 7 WHERE product_id = 'p1'`, []string{"c1/p1"}},
		{"price of a product whose line has its own", `UPDATE product_data SET price = 7 WHERE product_id = 'p2'`, nil},
		{"product title changed", `UPDATE product_data SET title = 'new'`, nil},
		{"product deleted", `DELETE FROM product_data WHERE product_id = 'p1'`, []string{"c1/p1"}},
		{"bulk load names customers", `SET featurestore.bulk_events = 2;
			INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
			VALUES ('$shop/e7', '$shop', 'c1', 'p7', 'view', '2025-02-01'), ('$shop/e8', '$shop', 'c5', 'p8', 'view', '2025-02-01'),
			       ('$shop/e9', '$shop', 'c5', 'p8', 'view', '2025-02-02');
			RESET featurestore.bulk_events`, []string{"c1/p1", "c1/p7", "c5/p8"}},
		{"another shop", `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
			VALUES ('$shop/other', 'other-$shop', 'c1', 'p1', 'view', '2025-02-01')`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shop := fmt.Sprintf("shop-%d", i)
			exec(t, pool, shop, changesFixture)
			exec(t, pool, shop, `DELETE FROM feature_changes`)
			exec(t, pool, shop, tc.write)
			checkClaimed(t, pool, shop, tc.want)
		})
	}
}

// TestChangeLogOrderAndLinesInConcurrentTransactions writes an order and
// its line in two transactions that overlap, so that neither trigger sees
// the other's row: the pair is still found, whichever commits first.
func TestChangeLogOrderAndLinesInConcurrentTransactions(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	for _, lineFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("line commits first=%v", lineFirst), func(t *testing.T) {
			shop := fmt.Sprintf("concurrent-%v", lineFirst)
			line, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer line.Rollback(ctx)
			order, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer order.Rollback(ctx)
			if _, err := line.Exec(ctx, `INSERT INTO line_item_data (id, shop_id, order_id, product_id) VALUES ($1 || '/l', $1, 'o', 'p')`, shop); err != nil {
				t.Fatal(err)
			}
			if _, err := order.Exec(ctx, `INSERT INTO order_data (id, shop_id, order_id, customer_id, created_at) VALUES ($1 || '/o', $1, 'o', 'c', now())`, shop); err != nil {
				t.Fatal(err)
			}
			first, second := line, order
			if !lineFirst {
				first, second = order, line
			}
			if err := first.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			// A run between the two commits resolves what it sees and
			// consumes it.
			changedPairs(t, pool, shop, true)
			if err := second.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if got := changedPairs(t, pool, shop, true); !slices.Equal(got, []string{"c/p"}) {
				t.Errorf("changed pairs after both commits = %q, want [c/p]", got)
			}
		})
	}
}

// TestChangesOfAFailedRunStay checks that a run that fails consumes
// nothing, and that a change committed while a run goes on survives the
// run's success.
func TestChangesOfAFailedRunStay(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	exec(t, pool, "s", changesFixture)

	run := beginRun(t, pool, "s")
	if err := run.Finish(store.RunTotals{}, context.Canceled); err != nil {
		t.Fatal(err)
	}
	if got, want := changedPairs(t, pool, "s", false), []string{"c1/p1", "c1/p2", "c2/p3"}; !slices.Equal(got, want) {
		t.Fatalf("after a failed run, changed pairs = %q, want the fixture's %q", got, want)
	}

	run = beginRun(t, pool, "s")
	exec(t, pool, "s", `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
		VALUES ('late', 's', 'c9', 'p9', 'view', '2025-01-01')`)
	if err := run.Finish(store.RunTotals{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := changedPairs(t, pool, "s", false); !slices.Equal(got, []string{"c9/p9"}) {
		t.Errorf("after a run during which c9/p9 changed, changed pairs = %q, want [c9/p9]", got)
	}
}

// TestSubsetRunConsumesItsCustomersChanges runs a run of one customer:
// it resolves and consumes that customer's changes, and leaves the others'.
func TestSubsetRunConsumesItsCustomersChanges(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	exec(t, pool, "s", `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at) VALUES
		('e1', 's', 'c1', 'p1', 'view', '2025-01-01'), ('e2', 's', 'c2', 'p2', 'view', '2025-01-01'), ('e3', 's', 'c1', 'p3', 'view', '2025-01-01')`)
	run := beginRun(t, pool, "s", "c1")
	keys, err := run.ChangedPairs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Finish(store.RunTotals{}, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(keys), "[{c1 p1} {c1 p3}]"; got != want {
		t.Errorf("the run of c1 resolved %s, want %s", got, want)
	}
	if got, want := changedPairs(t, pool, "s", false), []string{"c2/p2"}; !slices.Equal(got, want) {
		t.Errorf("after the run of c1, changed pairs = %q, want %q", got, want)
	}
}

// beginRun starts a run of shop, of customers if any are given, that has
// claimed the shop's changes.
func beginRun(t *testing.T, pool *pgxpool.Pool, shop string, customers ...string) *store.Run {
	t.Helper()
	ctx := context.Background()
	run, err := store.New(pool).BeginRun(ctx, store.RunInfo{ShopID: shop, Mode: "incremental", AsOf: time.Now(), CustomerIDs: customers})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.ClaimChanges(ctx); err != nil {
		t.Fatal(err)
	}
	return run
}

// changedPairs runs a run of shop that resolves its changes, as
// "customer/product", and finishes it (consuming them) if consume is set,
// checkClaimed checks that a successful run of shop claims want as its
// changed pairs, and consumes them: the next run finds none.
func checkClaimed(t *testing.T, pool *pgxpool.Pool, shop string, want []string) {
	t.Helper()
	if got := changedPairs(t, pool, shop, true); !slices.Equal(got, want) {
		t.Errorf("changed pairs = %q, want %q", got, want)
	}
	if got := changedPairs(t, pool, shop, false); len(got) != 0 {
		t.Errorf("after a successful run, changed pairs = %q, want none", got)
	}
}

// or fails it otherwise.
func changedPairs(t *testing.T, pool *pgxpool.Pool, shop string, consume bool) []string {
	t.Helper()
	run := beginRun(t, pool, shop)
	keys, err := run.ChangedPairs(context.Background())
	var runErr error
	if !consume {
		runErr = context.Canceled
	}
	if finishErr := run.Finish(store.RunTotals{}, runErr); finishErr != nil {
		t.Fatal(finishErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, k.CustomerID+"/"+k.ProductID)
	}
	return out
}

// exec runs sql with $shop replaced by shop.
func exec(t *testing.T, pool *pgxpool.Pool, shop, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), strings.ReplaceAll(sql, "$shop", shop)); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
