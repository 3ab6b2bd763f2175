package demo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

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
func SeedFeatureRows(ctx context.Context, pool *pgxpool.Pool, shopID string, customers, perCustomer int) (int64, error) {
	tag, err := pool.Exec(ctx, featureRowsSQL, shopID, customers, perCustomer)
	if err != nil {
		return 0, fmt.Errorf("seed feature rows of shop %q: %w", shopID, err)
	}
	return tag.RowsAffected(), nil
}
