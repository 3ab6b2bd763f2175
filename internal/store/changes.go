package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The change log (migration 00002) names what changed in the input tables
// since runs last consumed it. A run claims the shop's log when it starts,
// before its scan: it copies the rows visible then into a temporary table
// of its own connection. Any change in that copy committed before the scan
// began, so the scan reads its effect. After the run's last batch, Finish
// deletes exactly the copied rows in the transaction that records the
// success. Changes that commit while the run goes on are not in the copy
// and stay for the next run, and a run that fails deletes nothing. Sequence
// ids are not commit-ordered, so "every id up to the largest seen" would
// lose changes; the copy does not.

const (
	claimTable   = "featurestore_run_changes"
	dropClaimSQL = "DROP TABLE IF EXISTS " + claimTable
	// createClaimSQL makes the run's copy. Runs of a shop never overlap (the
	// shop lock), so a copy may include rows an earlier run claimed but did
	// not consume because it failed.
	createClaimSQL = "CREATE TEMP TABLE " + claimTable +
		" (id bigint, kind text, customer_ids text[], product_ids text[], order_ids text[], client_ids text[])"
	fillClaimSQL = "INSERT INTO " + claimTable + `
SELECT id, kind, customer_ids, product_ids, order_ids, client_ids FROM feature_changes WHERE shop_id = $1`
	// claimedKeysSQL selects the claimed changes one key to a row. unnest
	// pads the arrays a kind leaves NULL with NULLs.
	claimedKeysSQL = `
SELECT c.kind, k.customer_id, k.product_id, k.order_id, k.client_id
  FROM ` + claimTable + ` c, unnest(c.customer_ids, c.product_ids, c.order_ids, c.client_ids) AS k(customer_id, product_id, order_id, client_id)`
)

// ClaimChanges copies the shop's change log as it is now. Call it before
// the run's scan starts; Finish consumes the copy when the run succeeds.
func (r *Run) ClaimChanges(ctx context.Context) error {
	for _, sql := range []string{dropClaimSQL, createClaimSQL} {
		if _, err := r.conn.Exec(ctx, sql); err != nil {
			return translate(fmt.Errorf("claim changes: %w", err))
		}
	}
	if _, err := r.conn.Exec(ctx, fillClaimSQL, r.shopID); err != nil {
		return translate(fmt.Errorf("claim changes: %w", err))
	}
	r.claimed = true
	return nil
}

// ChangedPairs resolves the claimed changes into the pairs whose inputs
// they changed, in (customer_id, product_id) byte order, keeping only the
// run's customers when it has a subset. Customer, order, line, product and
// client changes are resolved against the tables as they are now, which
// hold the logged writes (see the migrations for why that completes the
// log). A changed customer stands for the pairs of its events and of its
// stored rows: the latter are those whose events may all be gone. A changed
// client stands for its product, or all of its anonymous rows' products,
// with every customer its link may name or have named (FEATURES.md 1.4):
// those of its linking rows, and the one the change names.
func (r *Run) ChangedPairs(ctx context.Context) ([]PairKey, error) {
	customers := r.customerIDs
	if customers == nil {
		customers = []string{}
	}
	rows, err := r.conn.Query(ctx, `
WITH c AS (`+claimedKeysSQL+`),
customers AS (SELECT DISTINCT customer_id FROM c WHERE kind = 'customer'),
clients AS (SELECT DISTINCT client_id, product_id, customer_id FROM c WHERE kind = 'client'),
linked AS (
    SELECT k.client_id, u.customer_id::text AS customer_id
      FROM (SELECT DISTINCT client_id FROM clients) k
      JOIN user_interactions u ON u.shop_id = $1 AND u.client_id COLLATE "C" = k.client_id
     WHERE u.client_id <> '' AND u.customer_id <> '' AND u.created_at IS NOT NULL
    UNION
    SELECT client_id, customer_id FROM clients WHERE customer_id IS NOT NULL
),
whole_clients AS (SELECT DISTINCT client_id FROM clients WHERE product_id IS NULL)
SELECT customer_id, product_id FROM (
    SELECT customer_id, product_id FROM c WHERE kind = 'pair'
    UNION
    SELECT c.customer_id, li.product_id::text
      FROM c JOIN line_item_data li ON li.shop_id = $1 AND li.order_id = c.order_id
     WHERE c.kind = 'order' AND li.product_id <> ''
    UNION
    SELECT o.customer_id::text, c.product_id
      FROM c JOIN order_data o ON o.shop_id = $1 AND o.order_id = c.order_id
     WHERE c.kind = 'line' AND o.customer_id <> '' AND o.created_at IS NOT NULL
    UNION
    SELECT k.customer_id, u.product_id::text
      FROM customers k JOIN user_interactions u ON u.shop_id = $1 AND u.customer_id COLLATE "C" = k.customer_id
     WHERE u.product_id <> '' AND u.created_at IS NOT NULL
    UNION
    SELECT k.customer_id, f.product_id::text
      FROM customers k JOIN interaction_features f ON f.shop_id = $1 AND f.customer_id = k.customer_id
    UNION
    SELECT o.customer_id::text, li.product_id::text
      FROM (SELECT DISTINCT product_id FROM c WHERE kind = 'product') p
      JOIN line_item_data li ON li.shop_id = $1 AND li.product_id = p.product_id AND li.price IS NULL
      JOIN order_data o ON o.shop_id = $1 AND o.order_id = li.order_id
     WHERE o.customer_id <> '' AND o.created_at IS NOT NULL
    UNION
    SELECT l.customer_id, k.product_id FROM clients k JOIN linked l USING (client_id) WHERE k.product_id IS NOT NULL
    UNION
    SELECT l.customer_id, u.product_id::text
      FROM whole_clients k JOIN linked l USING (client_id)
      JOIN user_interactions u ON u.shop_id = $1 AND u.client_id COLLATE "C" = k.client_id
     WHERE u.client_id <> '' AND (u.customer_id IS NULL OR u.customer_id = '') AND u.product_id <> '' AND u.created_at IS NOT NULL
    UNION
    SELECT l.customer_id, f.product_id::text
      FROM whole_clients k JOIN linked l USING (client_id)
      JOIN interaction_features f ON f.shop_id = $1 AND f.customer_id = l.customer_id
) changed
 WHERE cardinality($2::text[]) = 0 OR customer_id = ANY($2::text[])
 ORDER BY customer_id COLLATE "C", product_id COLLATE "C"`, r.shopID, customers)
	if err != nil {
		return nil, translate(fmt.Errorf("resolve changed pairs: %w", err))
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PairKey])
	if err != nil {
		return nil, translate(fmt.Errorf("resolve changed pairs: %w", err))
	}
	return keys, nil
}

// consumeChanges deletes the claimed changes that the run covered: all of
// them for a whole-shop run. A run of a customer subset covers the changes
// of its customers only: the keys of other customers, and the line,
// product and client changes, which name no customer for sure and may
// concern customers outside the subset, are logged again as new changes.
func (r *Run) consumeChanges(ctx context.Context, tx pgx.Tx) error {
	if !r.claimed {
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM feature_changes f USING `+claimTable+` c WHERE f.shop_id = $1 AND f.id = c.id`, r.shopID); err != nil {
		return fmt.Errorf("consume changes: %w", err)
	}
	if len(r.customerIDs) == 0 {
		return nil
	}
	var relog string
	err := tx.QueryRow(ctx, `SELECT featurestore_log_sql($1)`, `
SELECT $1::text, kind, customer_id, product_id, order_id FROM (`+claimedKeysSQL+`) k
 WHERE kind <> 'client' AND (customer_id IS NULL OR NOT customer_id = ANY($2::text[]))`).Scan(&relog)
	if err == nil {
		_, err = tx.Exec(ctx, relog, r.shopID, r.customerIDs)
	}
	if err == nil {
		_, err = tx.Exec(ctx, `
INSERT INTO feature_changes (shop_id, kind, customer_ids, product_ids, order_ids, client_ids)
SELECT $1, kind, customer_ids, product_ids, order_ids, client_ids FROM `+claimTable+` WHERE kind = 'client'`, r.shopID)
	}
	if err != nil {
		return fmt.Errorf("log the changes of other customers again: %w", err)
	}
	return nil
}

// DeletePairs removes the stored rows of keys, pairs that no longer exist
// at the run's as_of, and returns those that had a row.
func (r *Run) DeletePairs(ctx context.Context, keys []PairKey) ([]PairKey, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	customers, products := pairColumns(keys)
	rows, err := r.conn.Query(ctx, `
DELETE FROM interaction_features
 WHERE shop_id = $1 AND (customer_id, product_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
RETURNING customer_id, product_id`, r.shopID, customers, products)
	if err != nil {
		return nil, translate(fmt.Errorf("delete vanished pairs: %w", err))
	}
	deleted, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PairKey])
	if err != nil {
		return nil, translate(fmt.Errorf("delete vanished pairs: %w", err))
	}
	return deleted, nil
}
