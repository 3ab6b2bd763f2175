package store

import (
	"context"
	"fmt"
)

// hasInputsSQL is true when the shop named by $1 has an interaction or an
// order; each EXISTS is one probe of an index that leads with shop_id.
const hasInputsSQL = `EXISTS (SELECT FROM user_interactions WHERE shop_id = $1) OR EXISTS (SELECT FROM order_data WHERE shop_id = $1)`

// ShopHasInputs reports whether the shop has any interaction or order: what
// a compute run computes from.
func (s *Store) ShopHasInputs(ctx context.Context, shopID string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT `+hasInputsSQL, shopID).Scan(&ok); err != nil {
		return false, translate(fmt.Errorf("look for the shop's interactions and orders: %w", err))
	}
	return ok, nil
}

// CheckShopKnown returns an *UnknownShopError when the shop has no stored
// features, no interactions and no orders. Bulk reads call it only when
// they found nothing, so that an answer that is empty because of a typo in
// the shop id says so, while the common path costs nothing.
func (s *Store) CheckShopKnown(ctx context.Context, shopID string) error {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM interaction_features WHERE shop_id = $1) OR `+hasInputsSQL, shopID).Scan(&ok)
	if err != nil {
		return translate(fmt.Errorf("look for the shop's data: %w", err))
	}
	if !ok {
		return &UnknownShopError{ShopID: shopID}
	}
	return nil
}
