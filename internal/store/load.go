package store

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// ErrShopNotEmpty means the shop already has rows in a table that LoadShop
// would fill: loaded ids would collide with the earlier ones, and rows mixed
// into a real shop's would falsify its features.
var ErrShopNotEmpty = errors.New("the shop already has data")

// Cents is an amount of money in hundredths, written exactly into a
// numeric column.
type Cents int64

// NumericValue lets pgx write c as numeric(…, 2).
func (c Cents) NumericValue() (pgtype.Numeric, error) {
	return pgtype.Numeric{Int: big.NewInt(int64(c)), Exp: -2, Valid: true}, nil
}

// BulkTable is one table of a bulk load: the table's name, the columns its
// rows fill, and the rows.
type BulkTable struct {
	Name    string
	Columns []string
	// Next fills row, which has one value per column, with the next row and
	// reports false after the last. It may keep row and fill it again at its
	// next call: each row is written before the next is asked for. Values
	// are what pgx writes: strings, numbers, times, Cents, nil for NULL.
	Next func(row []any) bool
}

// LoadShop writes tables, each by COPY and in their order, in one
// transaction, so that a load that fails or is cancelled leaves nothing
// behind. It refuses a shop that already has rows in any of them
// (ErrShopNotEmpty), and ends with ANALYZE of each, so that queries on the
// new rows get sensible plans straight away. A table's Next is called from
// a goroutine of pgx's, never concurrently with itself.
func (s *Store) LoadShop(ctx context.Context, shopID string, tables []BulkTable) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, t := range tables {
			var found bool
			err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+pgx.Identifier{t.Name}.Sanitize()+" WHERE shop_id = $1)", shopID).Scan(&found)
			if err != nil {
				return fmt.Errorf("look for existing rows in %s: %w", t.Name, err)
			}
			if found {
				return fmt.Errorf("%w: %s has rows for shop %q", ErrShopNotEmpty, t.Name, shopID)
			}
		}
		for _, t := range tables {
			src := &bulkSource{next: t.Next, row: make([]any, len(t.Columns))}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.Name}, t.Columns, src); err != nil {
				return fmt.Errorf("copy %s: %w", t.Name, err)
			}
		}
		for _, t := range tables {
			if _, err := tx.Exec(ctx, "ANALYZE "+pgx.Identifier{t.Name}.Sanitize()); err != nil {
				return fmt.Errorf("analyze %s: %w", t.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		// A cancel can surface as the connection's error; report the
		// cause, so callers can tell a cancelled load from a broken one.
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return translate(fmt.Errorf("load shop %q: %w", shopID, err))
	}
	return nil
}

// bulkSource adapts a BulkTable's rows to pgx.CopyFromSource.
type bulkSource struct {
	next func([]any) bool
	row  []any
}

func (b *bulkSource) Next() bool { return b.next(b.row) }

// Values returns the same slice every row: pgx encodes a row before it asks
// for the next, so reusing it saves an allocation per row.
func (b *bulkSource) Values() ([]any, error) { return b.row, nil }

func (b *bulkSource) Err() error { return nil }

// HasInteractions reports whether the shop has any user_interactions row,
// which `featurestore seed-demo --if-empty` checks before seeding and a
// benchmark before reusing a database.
func (s *Store) HasInteractions(ctx context.Context, shopID string) (bool, error) {
	var found bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM user_interactions WHERE shop_id = $1)", shopID).Scan(&found)
	if err != nil {
		return false, translate(fmt.Errorf("look for interactions of shop %q: %w", shopID, err))
	}
	return found, nil
}

// featureRowsSQL writes customers x perCustomer rows of
// interaction_features for one shop straight from generate_series, without
// any input events: readers of the stored table (exports, online reads, their
// tests and benchmarks) need many rows quickly, not rows a compute run would
// produce from a realistic shop. Every value is a fixed function of the customer number c and the
// product slot k, every nullable column is NULL in some rows, and customer
// and product ids are chosen so that their byte order differs from the
// numeric order of c and k. Products 977*k mod 5000 are distinct for
// k < 5000, so pairs are unique.
const featureRowsSQL = `
INSERT INTO interaction_features (shop_id, customer_id, product_id,
    total_views, unique_views, view_duration_avg, view_frequency, engagement_score,
    cart_adds, cart_removes, purchases, cart_conversion_rate, view_to_purchase_rate,
    search_views, category_views, collection_views, direct_views, referral_views,
    first_view_date, last_view_date, view_recency, view_consistency, seasonal_view_pattern,
    mobile_views, desktop_views, tablet_views, preferred_device, channel_preference,
    interaction_quality_score, intent_score, loyalty_indicator, recommendation_score,
    purchase_quantity, purchase_value, last_purchase_date, purchase_recency,
    as_of, features_version, last_computed_at)
SELECT $1, 'gid://shopify/Customer/' || c, 'gid://shopify/Product/' || ((c * 31 + k * 977) % 5000),
    1 + h % 40, 1 + h % 7, CASE WHEN h % 5 = 0 THEN NULL ELSE (h % 1800) / 7.0 END, (h % 100) / 13.0, (h % 10000) / 100.0,
    h % 4, h % 3, h % 2, (h % 101) / 100.0, (h % 97) / 97.0,
    h % 11, h % 13, h % 5, h % 17, h % 3,
    CASE WHEN h % 9 = 0 THEN NULL ELSE t - (30 + h % 300) * interval '1 day' - (h % 86400000) * interval '1 millisecond' END,
    CASE WHEN h % 9 = 0 THEN NULL ELSE t - (h % 30) * interval '1 day' - (h % 3600000) * interval '1 millisecond' END,
    CASE WHEN h % 9 = 0 THEN NULL ELSE (h % 30)::int END,
    CASE WHEN h % 9 = 0 THEN NULL ELSE (h % 50) / 50.0 END,
    CASE WHEN h % 6 = 0 THEN NULL ELSE (h % 1000) / 1000.0 END,
    h % 23, h % 19, h % 3,
    (ARRAY[NULL, 'mobile', 'desktop', 'tablet'])[1 + h % 4],
    (ARRAY[NULL, 'direct', 'search_engine', 'social', 'email, "quoted"', 'ünïcode'])[1 + h % 6],
    (h % 10000) / 100.0, (h % 1000) / 1000.0, (h % 997) / 997.0, (h % 991) / 991.0,
    h % 2 * (1 + h % 5), h % 2 * (h % 100000) / 100.0,
    CASE WHEN h % 2 = 0 THEN NULL ELSE t - (h % 90) * interval '1 day' END,
    CASE WHEN h % 2 = 0 THEN NULL ELSE (h % 90)::int END,
    t, 1, t + (c % 1000) * interval '1 second'
  FROM generate_series(1, $2::int) AS c,
       generate_series(1, $3::int) AS k,
       LATERAL (SELECT (c::bigint * 2654435761 + k * 40503) % 1000003 AS h,
                       timestamptz '2025-06-01 00:00:00+00' AS t) v`

// SeedFeatureRows writes customers x perCustomer synthetic rows of
// interaction_features for shopID (see featureRowsSQL) and returns the
// number written. Customer c's rows have last_computed_at
// 2025-06-01T00:00:00Z plus c mod 1000 seconds, so an updated_since filter
// can select a known share of them. perCustomer must be below 5000.
func (s *Store) SeedFeatureRows(ctx context.Context, shopID string, customers, perCustomer int) (int64, error) {
	tag, err := s.pool.Exec(ctx, featureRowsSQL, shopID, customers, perCustomer)
	if err != nil {
		return 0, translate(fmt.Errorf("seed feature rows of shop %q: %w", shopID, err))
	}
	return tag.RowsAffected(), nil
}
