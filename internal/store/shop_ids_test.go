package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// inputTables are the tables a shop sync fills, each with a column beside
// id and shop_id that tells its rows apart.
var inputTables = map[string]string{
	"product_data": "title", "customer_data": "email", "order_data": "order_id",
	"line_item_data": "product_id", "user_interactions": "event_type",
}

// shopIDsVersion is the migration that keys the input tables by (shop_id, id).
const shopIDsVersion = 5

// TestMigrateKeysInputTablesByShop fills databases as earlier versions left
// them (and as a shop sync creates them, with keys of its own naming) with
// rows of two shops and rows without a shop, all ids distinct, migrates
// them up and checks that every row is still there, that the key is
// (shop_id, id), and that equal ids of different shops are then stored;
// then it migrates down, which must refuse while such ids exist.
func TestMigrateKeysInputTablesByShop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// prepare brings a new database to the state under test.
		prepare func(t *testing.T, pool *pgxpool.Pool)
	}{
		{"at version 2", func(t *testing.T, pool *pgxpool.Pool) { migrateTo(t, pool, 2) }},
		{"at version 3", func(t *testing.T, pool *pgxpool.Pool) { migrateTo(t, pool, 3) }},
		{"tables a shop sync created", func(t *testing.T, pool *pgxpool.Pool) {
			exec(t, pool, "", `
CREATE TABLE product_data (id text CONSTRAINT product_sync_key PRIMARY KEY, shop_id text, product_id text, title text, price numeric);
CREATE TABLE customer_data (id text CONSTRAINT customer_sync_key PRIMARY KEY, shop_id text, customer_id text, email text);
CREATE TABLE order_data (id text CONSTRAINT order_sync_key PRIMARY KEY, shop_id text, order_id text, customer_id text, created_at timestamp);
CREATE TABLE line_item_data (id text CONSTRAINT line_sync_key PRIMARY KEY, shop_id text, order_id text, product_id text, quantity int, price numeric);
CREATE TABLE user_interactions (id text CONSTRAINT event_sync_key PRIMARY KEY, shop_id text, customer_id text, product_id text,
    event_type text, page_type text, device_type text, referrer_type text, view_duration numeric, created_at timestamp)`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := store.Open(ctx, testenv.DatabaseURL(t))
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			tc.prepare(t, pool)
			for table, col := range inputTables {
				exec(t, pool, "", fmt.Sprintf(`INSERT INTO %s (id, shop_id, %s) VALUES
    ('a-1', 'shop-a', 'a1'), ('a-2', 'shop-a', 'a2'), ('b-1', 'shop-b', 'b1'), ('b-2', 'shop-b', 'b2'), ('x-1', NULL, 'x1')`, table, col))
			}
			before := map[string][]string{}
			for table := range inputTables {
				before[table] = tableRows(t, pool, table)
			}

			if err := store.New(pool).MigrateTo(ctx, shopIDsVersion); err != nil {
				t.Fatalf("migrate up: %v", err)
			}
			for table, col := range inputTables {
				// The row without a shop is kept, with shop_id ''.
				want := slices.Clone(before[table])
				for i, r := range want {
					want[i] = strings.Replace(r, "<null>", "", 1)
				}
				if got := tableRows(t, pool, table); !slices.Equal(got, want) {
					t.Errorf("%s after the migration:\n got %v\nwant %v", table, got, want)
				}
				if got := primaryKey(t, pool, table); got != "shop_id, id" {
					t.Errorf("%s's primary key is (%s), want (shop_id, id)", table, got)
				}
				exec(t, pool, "", fmt.Sprintf(`INSERT INTO %s (id, shop_id, %s) VALUES ('a-1', 'shop-b', 'b-a1')`, table, col))
			}

			err = store.New(pool).MigrateTo(ctx, shopIDsVersion-1)
			if err == nil || !strings.Contains(err.Error(), `id 'a-1' is stored for shops 'shop-a', 'shop-b'`) {
				t.Fatalf("migrate down with an id in two shops: %v, want a refusal naming the id and the shops", err)
			}
			for table := range inputTables {
				exec(t, pool, "", fmt.Sprintf(`DELETE FROM %s WHERE shop_id = 'shop-b' AND id = 'a-1'`, table))
			}
			if err := store.New(pool).MigrateTo(ctx, shopIDsVersion-1); err != nil {
				t.Fatalf("migrate down: %v", err)
			}
			for table := range inputTables {
				if got := primaryKey(t, pool, table); got != "id" {
					t.Errorf("%s's primary key after migrating down is (%s), want (id)", table, got)
				}
				if got, want := len(tableRows(t, pool, table)), len(before[table]); got != want {
					t.Errorf("%s has %d rows after migrating down, want %d", table, got, want)
				}
			}
		})
	}
}

func migrateTo(t *testing.T, pool *pgxpool.Pool, version int64) {
	t.Helper()
	if err := store.New(pool).MigrateTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
}

// tableRows renders every row of table, in id order, as text.
func tableRows(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), fmt.Sprintf(
		`SELECT concat_ws(' ', id, coalesce(shop_id, '<null>'), (to_jsonb(r) - 'id' - 'shop_id')::text) FROM %s r ORDER BY id, shop_id`, table))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// primaryKey returns the columns of table's primary key, in key order.
func primaryKey(t *testing.T, pool *pgxpool.Pool, table string) string {
	t.Helper()
	var cols string
	err := pool.QueryRow(context.Background(), `
SELECT coalesce(string_agg(a.attname, ', ' ORDER BY k.ord), '')
  FROM pg_constraint c
 CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
 WHERE c.conrelid = $1::regclass AND c.contype = 'p'`, table).Scan(&cols)
	if err != nil {
		t.Fatal(err)
	}
	return cols
}

// TestMigrateRefusesOtherKeys checks that the migration to (shop_id, id)
// keys leaves alone, and names, a table whose key is not featurestore's
// to change.
func TestMigrateRefusesOtherKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name, schema, want string
	}{
		{
			name: "a key of another column",
			schema: `CREATE TABLE customer_data (uuid text PRIMARY KEY, id text, shop_id text, customer_id text);
CREATE UNIQUE INDEX ON customer_data (id)`,
			want: "cannot make (shop_id, id) the primary key of customer_data: its primary key customer_data_pkey is (uuid), not (id)",
		},
		{
			name: "a key another table references",
			schema: `CREATE TABLE order_data (id text PRIMARY KEY, shop_id text, order_id text, customer_id text, created_at timestamptz);
CREATE TABLE refunds (id text PRIMARY KEY, order_row text CONSTRAINT refunds_order_fk REFERENCES order_data (id))`,
			want: "cannot make (shop_id, id) the primary key of order_data: foreign keys reference its key (refunds_order_fk on refunds)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := store.Open(ctx, testenv.DatabaseURL(t))
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			exec(t, pool, "", tc.schema)
			_, err = store.Migrate(ctx, pool, testenv.Logger())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("migrate: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
