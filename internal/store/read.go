package store

import (
	"context"
	"fmt"
	"strings"
	"time"

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

// eachStoredRow runs query, which selects storedColumns, and calls fn for
// each row, decoded from the binary wire format by one reused decoder: fn
// must not keep the row after it returns. An error from fn stops the read,
// cancels the query and is returned as is.
func (s *Store) eachStoredRow(ctx context.Context, query string, args []any, fn func(*StoredRow) error) error {
	ctx, cancel := context.WithCancel(ctx)
	// Cancelling before the rows are closed stops Postgres rather than
	// draining the rest of the result when fn fails.
	defer cancel()
	rows, err := s.pool.Query(ctx, query, append([]any{binaryResults}, args...)...)
	if err != nil {
		return translate(fmt.Errorf("query stored rows: %w", err))
	}
	defer rows.Close()
	defer cancel()
	d := newRowDecoder()
	for rows.Next() {
		r, err := d.decode(rows.RawValues())
		if err != nil {
			return fmt.Errorf("decode stored row: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return translate(fmt.Errorf("read stored rows: %w", err))
	}
	return nil
}

// collectStoredRows returns copies of every row that query selects.
func (s *Store) collectStoredRows(ctx context.Context, query string, args ...any) ([]StoredRow, error) {
	var out []StoredRow
	err := s.eachStoredRow(ctx, query, args, func(r *StoredRow) error {
		out = append(out, *r)
		return nil
	})
	return out, err
}

// The online reads below look each customer up through the pair key, one
// customer at a time, in a LATERAL subquery that OFFSET 0 keeps the planner
// from flattening: the plan is then a loop over the asked customers with one
// pair key scan bounded by (shop_id, customer_id) each, whatever the
// statistics say. A flat "customer_id = ANY(...)" or "(customer_id,
// product_id) IN (...)" leaves the planner a choice, and for a shop written
// after the last ANALYZE (a new shop's first run) it believes the shop
// holds a row or so and walks all of the shop's rows through its shop_id
// prefix: about a second for one customer x 100 products of a 60,000-row
// shop, against a millisecond or two this way
// (BenchmarkReadPairsUnanalysedShop measures it).

// CustomersRows returns every stored row of the given customers of a shop,
// by customer, in one query. A customer without rows has no entry.
func (s *Store) CustomersRows(ctx context.Context, shopID string, customerIDs []string) (map[string][]StoredRow, error) {
	all, err := s.collectStoredRows(ctx, `SELECT f.* FROM (SELECT DISTINCT unnest($2::text[])) AS c(customer_id)
 CROSS JOIN LATERAL (SELECT `+storedColumns+` FROM interaction_features
                      WHERE shop_id = $1 AND customer_id = c.customer_id OFFSET 0) f`, shopID, customerIDs)
	if err != nil {
		return nil, fmt.Errorf("read customers' rows: %w", err)
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

// Record is one pair's answer to an online read. A read of Postgres gives
// the decoded Row; a cache in front of it gives Encoded, the record as the
// cache keeps it (a FeatureRecord in protobuf wire format without the
// pair's ids, see protoconv.EncodedRecord), which the server splices into
// its response without decoding. Neither is set for a pair without a
// stored row.
type Record struct {
	Row     *StoredRow
	Encoded string
	// Dense and ComputedAtMicros come with Encoded: the row's features as
	// a matrix answer's row (little-endian float32 in the dense layout)
	// and when the row was written, in Unix microseconds.
	Dense            string
	ComputedAtMicros int64
}

// Found reports whether the pair has a stored row.
func (r Record) Found() bool { return r.Row != nil || r.Encoded != "" }

// ReadPairs answers lookups with one query: for each lookup, the Record of
// each of its products in the order asked (repeats included), with the
// decoded Row where the pair has a stored row. Each lookup's products are
// the slice [lo:hi] of one array of them all.
func (s *Store) ReadPairs(ctx context.Context, shopID string, lookups []Lookup) ([][]Record, error) {
	customers := make([]string, len(lookups))
	lo, hi := make([]int32, len(lookups)), make([]int32, len(lookups))
	var products []string
	for i, l := range lookups {
		customers[i], lo[i] = l.CustomerID, int32(len(products)+1)
		products = append(products, l.ProductIDs...)
		hi[i] = int32(len(products))
	}
	found, err := s.collectStoredRows(ctx, `SELECT f.* FROM unnest($2::text[], $3::int[], $4::int[]) AS l(customer_id, lo, hi)
 CROSS JOIN LATERAL (SELECT `+storedColumns+` FROM interaction_features
                      WHERE shop_id = $1 AND customer_id = l.customer_id
                        AND product_id = ANY(($5::text[])[l.lo:l.hi]) OFFSET 0) f`, shopID, customers, lo, hi, products)
	if err != nil {
		return nil, fmt.Errorf("read pairs: %w", err)
	}
	byKey := make(map[PairKey]*StoredRow, len(found))
	for i := range found {
		byKey[PairKey{found[i].CustomerID, found[i].ProductID}] = &found[i]
	}
	out := make([][]Record, len(lookups))
	for i, l := range lookups {
		out[i] = make([]Record, len(l.ProductIDs))
		for j, p := range l.ProductIDs {
			out[i][j] = Record{Row: byKey[PairKey{l.CustomerID, p}]}
		}
	}
	return out, nil
}
