package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testenv.Postgres(t) // applies every migration once

	before := schemaSnapshot(t, pool)
	version, err := store.Migrate(ctx, pool, testenv.Logger())
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if version < 1 {
		t.Fatalf("schema version after migrate = %d, want >= 1", version)
	}
	if after := schemaSnapshot(t, pool); after != before {
		t.Fatalf("second migrate changed the schema:\nbefore: %s\nafter:  %s", before, after)
	}
	for _, table := range []string{"user_interactions", "order_data", "line_item_data", "product_data", "customer_data", "interaction_features"} {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
}

// schemaSnapshot describes every column and index of the public schema.
func schemaSnapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var columns, indexes string
	err := pool.QueryRow(context.Background(), `
		SELECT
			(SELECT string_agg(table_name || '.' || column_name || ' ' || data_type, ', ' ORDER BY table_name, ordinal_position)
			   FROM information_schema.columns WHERE table_schema = 'public'),
			(SELECT string_agg(indexdef, ', ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public')`).Scan(&columns, &indexes)
	if err != nil {
		t.Fatalf("snapshot schema: %v", err)
	}
	return columns + " | " + indexes
}
