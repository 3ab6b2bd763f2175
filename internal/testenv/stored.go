package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/store"
)

// StoredRows returns every stored row of a shop in (customer_id,
// product_id) byte order, read with pgx's generic scan rather than the
// store's own decoder, so that tests of the store's readers and of what is
// built on them compare against an independent reading of the table.
func StoredRows(t testing.TB, pool *pgxpool.Pool, shopID string) []store.StoredRow {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire connection: %v", err)
	}
	defer conn.Release()
	// Timestamps in UTC, as the store returns them, so that rows compare
	// with reflect.DeepEqual.
	conn.Conn().TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID, Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
	rows, err := conn.Query(ctx, `
SELECT customer_id, product_id, as_of, last_computed_at, features_version, `+strings.Join(features.Names(), ", ")+`
  FROM interaction_features WHERE shop_id = $1 ORDER BY customer_id COLLATE "C", product_id COLLATE "C"`, shopID)
	if err != nil {
		t.Fatalf("read stored rows: %v", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.StoredRow, error) {
		var r store.StoredRow
		dst, finish := r.Vector.ScanTargets([]any{&r.CustomerID, &r.ProductID, &r.AsOf, &r.ComputedAt, &r.Version})
		if err := row.Scan(dst...); err != nil {
			return r, err
		}
		finish()
		return r, nil
	})
	if err != nil {
		t.Fatalf("read stored rows: %v", err)
	}
	return out
}
