package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SampleCustomer returns the shop's customer with the most stored pairs and
// up to limit of the shop's products, that customer's first. Example
// commands use it to show a read that finds something. It returns an empty
// customer when the shop has no stored rows.
func (s *Store) SampleCustomer(ctx context.Context, shopID string, limit int) (string, []string, error) {
	var customer string
	err := s.pool.QueryRow(ctx, `
SELECT customer_id FROM interaction_features WHERE shop_id = $1
 GROUP BY customer_id ORDER BY count(*) DESC, customer_id LIMIT 1`, shopID).Scan(&customer)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, translate(fmt.Errorf("sample customer: %w", err))
	}
	rows, err := s.pool.Query(ctx, `
SELECT product_id FROM (
    SELECT DISTINCT ON (product_id) product_id, customer_id = $2 AS own
      FROM interaction_features WHERE shop_id = $1
     ORDER BY product_id, own DESC) p
 ORDER BY own DESC, product_id LIMIT $3`, shopID, customer, limit)
	if err != nil {
		return "", nil, translate(fmt.Errorf("sample products: %w", err))
	}
	products, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", nil, translate(fmt.Errorf("sample products: %w", err))
	}
	return customer, products, nil
}
