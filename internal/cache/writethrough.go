package cache

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/store"
)

// Written writes a compute batch through to the hashes of the customers
// that are cached; cold customers stay uncached. rows must be in pair order
// (a customer's rows together), as compute runs produce them. When Redis
// fails, the customers' hashes are marked for repair in Postgres, where
// every process sharing the database reads the marks (marks.go): until
// the repair has removed the hashes, reads of those customers go to
// Postgres. Written returns an error only when the mark could not be
// recorded either.
func (c *Cache) Written(ctx context.Context, shopID string, rows []store.FeatureRow, computedAt, asOf time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	var customers []string
	for i := range rows {
		if i == 0 || rows[i].CustomerID != rows[i-1].CustomerID {
			customers = append(customers, rows[i].CustomerID)
		}
	}
	cached, err := c.existing(ctx, shopID, customers)
	if err != nil {
		return c.writeFailed(ctx, shopID, customers, err)
	}
	var batch []customerRecords
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].CustomerID == rows[i].CustomerID {
			j++
		}
		if cached[rows[i].CustomerID] {
			cr := customerRecords{customerID: rows[i].CustomerID, records: make(map[string]stampedRecord, j-i)}
			for k := i; k < j; k++ {
				r := &rows[k]
				rec, err := newStampedRecord(&store.StoredRow{
					Vector: r.Vector, AsOf: asOf, ComputedAt: computedAt, Version: features.Version,
				})
				if err != nil {
					return err
				}
				cr.records[r.ProductID] = rec
			}
			batch = append(batch, cr)
		}
		i = j
	}
	if len(batch) == 0 {
		return nil
	}
	if err := c.put(ctx, shopID, batch, "update"); err != nil {
		return c.writeFailed(ctx, shopID, customers, err)
	}
	return nil
}

// writeFailed marks the customers whose write-through failed with err, and
// returns nil once the mark is recorded durably.
func (c *Cache) writeFailed(ctx context.Context, shopID string, customers []string, err error) error {
	if markErr := c.markDirty(ctx, shopID, customers); markErr != nil {
		return fmt.Errorf("write-through failed (%w) and %w", err, markErr)
	}
	c.logger.WarnContext(ctx, "write-through failed; the customers' cached hashes are marked for repair",
		"shop_id", shopID, "customers", len(customers), "error", err)
	return nil
}

// Deleted records in the cached hashes that a compute run removed these
// pairs' rows at at, so no reader finds them again, and no slow fill that
// read them before the removal can bring them back. Failures are marked as
// Written's are.
func (c *Cache) Deleted(ctx context.Context, shopID string, keys []store.PairKey, at time.Time) error {
	byCustomer := map[string]map[string]time.Time{}
	var customers []string
	for _, k := range keys {
		if byCustomer[k.CustomerID] == nil {
			byCustomer[k.CustomerID] = map[string]time.Time{}
			customers = append(customers, k.CustomerID)
		}
		byCustomer[k.CustomerID][k.ProductID] = at
	}
	batch := make([]customerRecords, 0, len(customers))
	for _, cust := range customers {
		batch = append(batch, customerRecords{customerID: cust, tombstones: byCustomer[cust]})
	}
	if err := c.put(ctx, shopID, batch, "update"); err != nil {
		return c.writeFailed(ctx, shopID, customers, err)
	}
	return nil
}

// existing reports which customers have a hash.
func (c *Cache) existing(ctx context.Context, shopID string, customers []string) (map[string]bool, error) {
	out := make(map[string]bool, len(customers))
	err := c.call(ctx, func(ctx context.Context) error {
		p := c.rdb.Pipeline()
		cmds := make([]interface{ Val() int64 }, len(customers))
		for i, cust := range customers {
			cmds[i] = p.Exists(ctx, Key(shopID, cust))
		}
		if _, err := p.Exec(ctx); err != nil {
			return err
		}
		for i, cust := range customers {
			out[cust] = cmds[i].Val() > 0
		}
		return nil
	})
	return out, err
}

// globEscape escapes the characters that Redis' MATCH patterns interpret.
func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}
