package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestFeatureColumnsFollowCatalog proves interaction_features has one column
// per catalogue feature, in catalogue order and with a matching type and
// nullability, so the table and the kernel cannot drift apart.
func TestFeatureColumnsFollowCatalog(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	rows, err := pool.Query(context.Background(), `
SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns
 WHERE table_schema = 'public' AND table_name = 'interaction_features'
   AND column_name NOT IN ('id', 'shop_id', 'customer_id', 'product_id', 'as_of', 'features_version', 'last_computed_at')
 ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct {
		Name, Type string
		Nullable   bool
	}
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[column])
	if err != nil {
		t.Fatal(err)
	}
	catalog := features.Catalog()
	if len(cols) != len(catalog) {
		t.Fatalf("table has %d feature columns, catalogue has %d", len(cols), len(catalog))
	}
	sqlTypes := map[features.Type][]string{
		features.TypeInt:       {"integer", "bigint"},
		features.TypeFloat:     {"double precision"},
		features.TypeTimestamp: {"timestamp with time zone"},
		features.TypeString:    {"character varying", "text"},
	}
	for i, d := range catalog {
		c := cols[i]
		if c.Name != d.Name {
			t.Errorf("column %d is %s, catalogue has %s", i, c.Name, d.Name)
			continue
		}
		if !strings.Contains(strings.Join(sqlTypes[d.Type], ","), c.Type) {
			t.Errorf("column %s has type %s, catalogue type %s wants one of %v", c.Name, c.Type, d.Type, sqlTypes[d.Type])
		}
		if c.Nullable != d.Nullable {
			t.Errorf("column %s nullable = %v, catalogue says %v", c.Name, c.Nullable, d.Nullable)
		}
	}
}

// TestKeysLeadWithShopID proves that every primary key and unique
// constraint of a table that holds a shop's data leads with shop_id, which
// a database distributed by shop (Citus) requires, but for the one that
// docs/SCALING.md drops before distributing; the tables without a shop_id
// are the ones it makes reference tables.
func TestKeysLeadWithShopID(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	rows, err := pool.Query(context.Background(), `
SELECT c.conrelid::regclass::text, c.conname, a.attname
  FROM pg_constraint c
  JOIN pg_namespace n ON n.oid = c.connamespace AND n.nspname = 'public'
  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
 WHERE c.contype IN ('p', 'u')
   AND EXISTS (SELECT 1 FROM pg_attribute s WHERE s.attrelid = c.conrelid AND s.attname = 'shop_id' AND NOT s.attisdropped)
 ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ Table, Name, First string }
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[key])
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]bool{}
	for _, k := range keys {
		tables[k.Table] = true
		if k.First != "shop_id" && k.Name != "interaction_features_pkey" {
			t.Errorf("%s: key %s leads with %s, not shop_id", k.Table, k.Name, k.First)
		}
	}
	for _, want := range []string{"interaction_features", "feature_runs", "feature_changes", "user_interactions", "cache_marks", "refresh_claims", "pixel_sessions"} {
		if !tables[want] {
			t.Errorf("no key of %s was checked", want)
		}
	}
}
