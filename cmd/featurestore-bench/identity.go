package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/featurestore/featurestore/internal/demo"
	"github.com/featurestore/featurestore/internal/store"
)

func init() { register("identity", benchIdentity) }

// The variants of a shop that benchIdentity builds, by the suffix of their
// shop id.
const (
	// unresolved: the anonymous rows lose their client id, so that nothing
	// resolves them: the pairs of a store without identity resolution.
	variantUnresolved = "unresolved"
	// known: every row whose client is linked names the customer itself;
	// the visitors never identified stay anonymous.
	variantKnown = "known"
	// half: known, but about half of its identified rows lose their
	// customer again (never a client's first, which stays its link).
	variantHalf = "half"
	// none: known without client ids, which the scan reads exactly as it
	// read every shop before identity resolution.
	variantNone = "none"
)

// benchIdentity measures what identity resolution (FEATURES.md 1.4) gives
// and costs. On the default demo shop and on the largest --events shop it
// counts the pairs the scan finds against those it finds when the
// anonymous rows cannot be resolved. On the largest shop it then times the
// scan alone (ScanPairs, decoding every event, computing nothing) of three
// copies of the same rows: half of the identified rows anonymous, all of
// them identified, and all identified without client ids, the rounds
// alternating; the three must give the same pairs and events.
func benchIdentity(ctx context.Context, e env) error {
	small := demo.DefaultConfig()
	small.ShopID = "identity-demo"
	large := benchShop(slices.Max(e.opts.events))
	large.ShopID = fmt.Sprintf("identity-%d", large.Events)
	type added struct {
		shop                string
		events, with, about int64
	}
	var gains []added
	for _, c := range []demo.Config{small, large} {
		if err := ensureShop(ctx, e, c); err != nil {
			return err
		}
		if err := ensureVariant(ctx, e, c.ShopID, variantUnresolved); err != nil {
			return err
		}
		resolved, err := scanTotals(ctx, e.st, c.ShopID, c.End)
		if err != nil {
			return err
		}
		unresolved, err := scanTotals(ctx, e.st, c.ShopID+"-"+variantUnresolved, c.End)
		if err != nil {
			return err
		}
		gains = append(gains, added{shop: c.ShopID, events: int64(c.Events), with: resolved.pairs, about: unresolved.pairs})
	}
	fmt.Println("\nPairs with identity resolution against the same rows without it (demo shops: 35% of customers browse logged out)")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shop\tevents\tpairs without\tpairs with\tadded\t")
	for _, g := range gains {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t+%d (+%.1f%%)\t\n", g.shop, g.events, g.about, g.with, g.with-g.about,
			100*float64(g.with-g.about)/float64(g.about))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	variants := []string{variantHalf, variantKnown, variantNone}
	for _, v := range variants {
		if err := ensureVariant(ctx, e, large.ShopID, v); err != nil {
			return err
		}
	}
	times := map[string][]time.Duration{}
	var want scanTotal
	for round := range e.opts.rounds {
		for _, v := range variants {
			start := time.Now()
			got, err := scanTotals(ctx, e.st, large.ShopID+"-"+v, large.End)
			if err != nil {
				return err
			}
			times[v] = append(times[v], time.Since(start))
			if want == (scanTotal{}) {
				want = got
			} else if got != want {
				return fmt.Errorf("shop %s-%s scans %+v, %s-%s %+v: identity resolution changed the pairs", large.ShopID, v, got, large.ShopID, variants[0], want)
			}
			fmt.Fprintf(os.Stderr, "  round %d %s: %s\n", round+1, v, times[v][round].Round(time.Millisecond))
		}
	}
	half, known, none := median(times[variantHalf]), median(times[variantKnown]), median(times[variantNone])
	fmt.Printf("\nScan of %s (%d events read, %d pairs), the same pairs from three copies of its rows\n", large.ShopID, want.events, want.pairs)
	tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "copy\tscan (median)\tagainst identified\tagainst no client ids\t")
	for _, r := range []struct {
		name string
		d    time.Duration
	}{{"half the identified rows anonymous", half}, {"identified, with client ids", known}, {"identified, no client ids", none}} {
		fmt.Fprintf(tw, "%s\t%s\t%.2fx\t%.2fx\t\n", r.name, r.d.Round(time.Millisecond), r.d.Seconds()/known.Seconds(), r.d.Seconds()/none.Seconds())
	}
	return tw.Flush()
}

// scanTotal is what a scan of a shop found.
type scanTotal struct{ pairs, events int64 }

// scanTotals scans a shop at asOf and counts its pairs and events.
func scanTotals(ctx context.Context, st *store.Store, shopID string, asOf time.Time) (scanTotal, error) {
	var t scanTotal
	err := st.ScanPairs(ctx, store.ScanRequest{ShopID: shopID, AsOf: asOf}, func(p *store.Pair) error {
		t.pairs++
		t.events += int64(len(p.Events))
		return nil
	})
	return t, err
}

// ensureVariant writes a copy of a shop's inputs as the named variant,
// shop id SHOP-VARIANT, unless an earlier run did. Its rows keep their
// order, so that the copy is laid out as the shop is.
func ensureVariant(ctx context.Context, e env, shopID, variant string) error {
	target := shopID + "-" + variant
	has, err := e.st.HasInteractions(ctx, target)
	if err != nil || has {
		return err
	}
	fmt.Fprintf(os.Stderr, "writing %s...\n", target)
	// links are the shop's clients' links at the end of its history;
	// first marks each client's first row, which half leaves identified.
	customer := map[string]string{
		variantUnresolved: `CASE WHEN u.customer_id <> '' THEN u.customer_id END`,
		variantKnown:      `coalesce(nullif(u.customer_id, ''), l.customer_id)`,
		variantHalf:       `CASE WHEN NOT u.first AND hashtext(u.id) % 2 = 0 THEN NULL ELSE coalesce(nullif(u.customer_id, ''), l.customer_id) END`,
		variantNone:       `coalesce(nullif(u.customer_id, ''), l.customer_id)`,
	}[variant]
	client := map[string]string{
		variantUnresolved: `CASE WHEN u.customer_id <> '' THEN u.client_id END`,
		variantKnown:      `u.client_id`,
		variantHalf:       `u.client_id`,
		variantNone:       `NULL`,
	}[variant]
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`CREATE TEMP TABLE links ON COMMIT DROP AS
SELECT DISTINCT ON (client_id COLLATE "C") client_id, customer_id FROM user_interactions
 WHERE shop_id = $1 AND client_id <> '' AND customer_id <> ''
 ORDER BY client_id COLLATE "C", created_at, id COLLATE "C"`, []any{shopID}},
		{`INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, page_type, device_type,
       referrer_type, view_duration, created_at, client_id, metadata)
SELECT $2 || '/' || u.id, $2, ` + customer + `, u.product_id, u.event_type, u.page_type, u.device_type,
       u.referrer_type, u.view_duration, u.created_at, ` + client + `, u.metadata
  FROM (SELECT *, row_number() OVER (PARTITION BY client_id ORDER BY created_at, id COLLATE "C") = 1 AS first
          FROM user_interactions WHERE shop_id = $1) u
  LEFT JOIN links l ON l.client_id = u.client_id
 ORDER BY u.id COLLATE "C"`, []any{shopID, target}},
		{`INSERT INTO order_data (id, shop_id, order_id, customer_id, total_price, created_at)
SELECT $2 || '/' || id, $2, order_id, customer_id, total_price, created_at FROM order_data WHERE shop_id = $1`, []any{shopID, target}},
		{`INSERT INTO line_item_data (id, shop_id, order_id, product_id, quantity, price)
SELECT $2 || '/' || id, $2, order_id, product_id, quantity, price FROM line_item_data WHERE shop_id = $1`, []any{shopID, target}},
		{`INSERT INTO product_data (id, shop_id, product_id, title, price, vendor, product_type, created_at)
SELECT $2 || '/' || id, $2, product_id, title, price, vendor, product_type, created_at FROM product_data WHERE shop_id = $1`, []any{shopID, target}},
		{`DELETE FROM feature_changes WHERE shop_id = $1`, []any{target}},
	} {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return fmt.Errorf("write %s: %w", target, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	// As ensureShop does: every round reads the copy the same way.
	_, err = e.pool.Exec(ctx, "VACUUM ANALYZE user_interactions")
	return err
}
