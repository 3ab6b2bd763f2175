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
