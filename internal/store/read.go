package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/features"
)

// StoredRow is one row of interaction_features.
type StoredRow struct {
	CustomerID string
	ProductID  string
	Vector     features.Vector
	// AsOf is the computation instant the row was computed for.
	AsOf time.Time
	// ComputedAt is the row's last_computed_at: when it was written.
	ComputedAt time.Time
	Version    int32
}

// storedColumns is the select list that scanStoredRow reads.
var storedColumns = "customer_id, product_id, as_of, last_computed_at, features_version, " + strings.Join(features.Names(), ", ")

// scanStoredRow scans one row selected with storedColumns.
func scanStoredRow(row pgx.CollectableRow) (StoredRow, error) {
	var r StoredRow
	dst := make([]any, 0, 5+features.Count())
	dst = append(dst, &r.CustomerID, &r.ProductID, &r.AsOf, &r.ComputedAt, &r.Version)
	dst, finish := r.Vector.ScanTargets(dst)
	if err := row.Scan(dst...); err != nil {
		return r, err
	}
	finish()
	r.AsOf, r.ComputedAt = r.AsOf.UTC(), r.ComputedAt.UTC()
	return r, nil
}

// CustomerRows returns every stored row of one customer of a shop, in
// product order.
func CustomerRows(ctx context.Context, pool *pgxpool.Pool, shopID, customerID string) ([]StoredRow, error) {
	rows, err := pool.Query(ctx, `SELECT `+storedColumns+` FROM interaction_features
 WHERE shop_id = $1 AND customer_id = $2 ORDER BY product_id`, shopID, customerID)
	if err != nil {
		return nil, translate(fmt.Errorf("read customer rows: %w", err))
	}
	out, err := pgx.CollectRows(rows, scanStoredRow)
	if err != nil {
		return nil, translate(fmt.Errorf("read customer rows: %w", err))
	}
	return out, nil
}

// PairRows returns the stored rows of the given pairs of a shop that exist,
// in no particular order. Pairs without a row are simply absent.
func PairRows(ctx context.Context, pool *pgxpool.Pool, shopID string, keys []PairKey) ([]StoredRow, error) {
	customers := make([]string, len(keys))
	products := make([]string, len(keys))
	for i, k := range keys {
		customers[i], products[i] = k.CustomerID, k.ProductID
	}
	rows, err := pool.Query(ctx, `SELECT `+storedColumns+` FROM interaction_features
 WHERE shop_id = $1 AND (customer_id, product_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`, shopID, customers, products)
	if err != nil {
		return nil, translate(fmt.Errorf("read pair rows: %w", err))
	}
	out, err := pgx.CollectRows(rows, scanStoredRow)
	if err != nil {
		return nil, translate(fmt.Errorf("read pair rows: %w", err))
	}
	return out, nil
}
