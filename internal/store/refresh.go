package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/featurestore/featurestore/internal/features"
)

// shopStateSQL selects one shop's ShopState columns: whether its change
// log holds changes, and the start of its last successful FULL run.
var shopStateSQL = `SELECT EXISTS (SELECT 1 FROM feature_changes WHERE shop_id = $1), (` + lastFullRunSQL("$1", "$2") + `)`

// RefreshClaim is a replica's claim on one shop's scheduled refresh
// (refresh_claims): while it lasts, no other replica's ClaimRefresh takes
// the shop. The holder keeps it alive with Extend while its run goes on
// and must Release it once the run has recorded its end.
type RefreshClaim struct {
	store    *Store
	claimant string
	// claimedAt is the database's clock when the claim was taken; with the
	// claimant it names this claim, so that a lapsed claim never extends or
	// clears the claim another replica took since.
	claimedAt time.Time
	// State is the shop's state as read under the claim.
	State ShopState
}

// ClaimRefresh claims the shop's scheduled refresh for claimant, for lease,
// when no live claim holds it and due, asked with the shop's state as it is
// under the claim, says it is due. It returns nil and no error when another
// replica holds the shop (or is claiming it at this moment: the row lock is
// skipped, not waited for) or the shop is not due any more, e.g. because
// another replica's run has just refreshed it. The state is read under the
// shop's row lock, so two replicas that both found the shop due in their
// passes cannot both claim it for the same due state.
func (s *Store) ClaimRefresh(ctx context.Context, shopID, claimant string, lease time.Duration, due func(ShopState) bool) (*RefreshClaim, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO refresh_claims (shop_id) VALUES ($1) ON CONFLICT DO NOTHING`, shopID); err != nil {
		return nil, translate(fmt.Errorf("claim refresh of %s: %w", shopID, err))
	}
	var claim *RefreshClaim
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var held bool
		err := tx.QueryRow(ctx, `
SELECT COALESCE(lease_until > now(), false) FROM refresh_claims WHERE shop_id = $1 FOR UPDATE SKIP LOCKED`, shopID).Scan(&held)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && held {
			return nil
		}
		if err != nil {
			return err
		}
		st := ShopState{ShopID: shopID}
		var last *time.Time
		if err := tx.QueryRow(ctx, shopStateSQL, shopID, features.Version).Scan(&st.Pending, &last); err != nil {
			return err
		}
		if last != nil {
			st.LastFull = *last
		}
		if !due(st) {
			return nil
		}
		c := &RefreshClaim{store: s, claimant: claimant, State: st}
		err = tx.QueryRow(ctx, `
UPDATE refresh_claims SET claimed_by = $2, claimed_at = clock_timestamp(), lease_until = clock_timestamp() + $3 * interval '1 microsecond'
 WHERE shop_id = $1 RETURNING claimed_at`, shopID, claimant, lease.Microseconds()).Scan(&c.claimedAt)
		if err == nil {
			claim = c
		}
		return err
	})
	if err != nil {
		return nil, translate(fmt.Errorf("claim refresh of %s: %w", shopID, err))
	}
	return claim, nil
}

// Extend moves the claim's end to lease from now. It returns ErrClaimLost
// when the claim lapsed and another replica has taken the shop since.
func (c *RefreshClaim) Extend(ctx context.Context, lease time.Duration) error {
	return c.update(ctx, "extend", `lease_until = clock_timestamp() + $4 * interval '1 microsecond'`, lease.Microseconds())
}

// Release ends the claim, so that any replica may claim the shop again:
// call it once the run has recorded its end. Releasing a claim that
// another replica has taken since returns ErrClaimLost and leaves that
// claim alone.
func (c *RefreshClaim) Release(ctx context.Context) error {
	return c.update(ctx, "release", `claimed_by = NULL, claimed_at = NULL, lease_until = NULL`)
}

// ErrClaimLost is returned by Extend and Release when a claim lapsed and
// another replica has claimed the shop since.
var ErrClaimLost = errors.New("the refresh claim lapsed and was taken by another replica")

// update sets the claim's row with set, a SET list that may use $4 as
// extra's parameter, when the row still holds this claim.
func (c *RefreshClaim) update(ctx context.Context, what, set string, extra ...any) error {
	args := append([]any{c.State.ShopID, c.claimant, c.claimedAt}, extra...)
	tag, err := c.store.pool.Exec(ctx, `UPDATE refresh_claims SET `+set+`
 WHERE shop_id = $1 AND claimed_by = $2 AND claimed_at = $3`, args...)
	if err != nil {
		return translate(fmt.Errorf("%s refresh claim of %s: %w", what, c.State.ShopID, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s refresh claim of %s: %w", what, c.State.ShopID, ErrClaimLost)
	}
	return nil
}
