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

// CustomersRows returns every stored row of the given customers of a shop,
// by customer, each customer's rows in product order.
func CustomersRows(ctx context.Context, pool *pgxpool.Pool, shopID string, customerIDs []string) (map[string][]StoredRow, error) {
	rows, err := pool.Query(ctx, `SELECT `+storedColumns+` FROM interaction_features
 WHERE shop_id = $1 AND customer_id = ANY($2::text[]) ORDER BY customer_id, product_id`, shopID, customerIDs)
	if err != nil {
		return nil, translate(fmt.Errorf("read customers' rows: %w", err))
	}
	all, err := pgx.CollectRows(rows, scanStoredRow)
	if err != nil {
		return nil, translate(fmt.Errorf("read customers' rows: %w", err))
	}
	out := make(map[string][]StoredRow, len(customerIDs))
	for _, r := range all {
		out[r.CustomerID] = append(out[r.CustomerID], r)
	}
	return out, nil
}

// Lookup asks for some products of one customer.
type Lookup struct {
	CustomerID string
	ProductIDs []string
}

// ReadPairs answers lookups with one query: for each lookup, the stored row
// of each of its products in the order asked (repeats included), nil where
// the pair has no row.
func ReadPairs(ctx context.Context, pool *pgxpool.Pool, shopID string, lookups []Lookup) ([][]*StoredRow, error) {
	var customers, products []string
	for _, l := range lookups {
		for _, p := range l.ProductIDs {
			customers, products = append(customers, l.CustomerID), append(products, p)
		}
	}
	rows, err := pool.Query(ctx, `SELECT `+storedColumns+` FROM interaction_features
 WHERE shop_id = $1 AND (customer_id, product_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`, shopID, customers, products)
	if err != nil {
		return nil, translate(fmt.Errorf("read pairs: %w", err))
	}
	found, err := pgx.CollectRows(rows, scanStoredRow)
	if err != nil {
		return nil, translate(fmt.Errorf("read pairs: %w", err))
	}
	byKey := make(map[PairKey]*StoredRow, len(found))
	for i := range found {
		byKey[PairKey{found[i].CustomerID, found[i].ProductID}] = &found[i]
	}
	out := make([][]*StoredRow, len(lookups))
	for i, l := range lookups {
		out[i] = make([]*StoredRow, len(l.ProductIDs))
		for j, p := range l.ProductIDs {
			out[i][j] = byKey[PairKey{l.CustomerID, p}]
		}
	}
	return out, nil
}
