package cache

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
)

// Written writes a compute batch through to the hashes of the customers
// that are cached; cold customers stay uncached. rows must be in pair order
// (a customer's rows together), as compute runs produce them. When Redis
// fails, the customers' hashes are remembered as dirty and removed as soon
// as Redis answers again; until then this process reads them from Postgres.
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
		c.dirty.add(shopID, customers)
		return err
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
				enc, err := protoconv.EncodeRecord(&store.StoredRow{
					Vector: r.Vector, AsOf: asOf, ComputedAt: computedAt, Version: features.Version,
				})
				if err != nil {
					return err
				}
				cr.records[r.ProductID] = stampedRecord{enc: enc, computedAt: computedAt}
			}
			batch = append(batch, cr)
		}
		i = j
	}
	if len(batch) == 0 {
		return nil
	}
	if err := c.put(ctx, shopID, batch, "update"); err != nil {
		c.dirty.add(shopID, customers)
		return err
	}
	return nil
}

// Deleted records in the cached hashes that a compute run removed these
// pairs' rows at at, so no reader finds them again, and no slow fill that
// read them before the removal can bring them back.
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
		c.dirty.add(shopID, customers)
		return err
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

// dirtySet remembers hashes whose write-through failed: they may hold
// vectors older than the table. This process reads them from Postgres
// until they are removed from Redis.
type dirtySet struct {
	mu    sync.Mutex
	keys  map[string]map[string]bool // shop -> customers
	whole map[string]bool            // shops with too many dirty customers to list
	size  int
}

// maxDirty bounds the memory of the dirty set; past it whole shops are
// marked and cleared by pattern.
const maxDirty = 100_000

func newDirtySet() *dirtySet {
	return &dirtySet{keys: map[string]map[string]bool{}, whole: map[string]bool{}}
}

func (d *dirtySet) add(shopID string, customers []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.whole[shopID] {
		return
	}
	if d.size+len(customers) > maxDirty {
		d.size -= len(d.keys[shopID])
		delete(d.keys, shopID)
		d.whole[shopID] = true
		return
	}
	set := d.keys[shopID]
	if set == nil {
		set = map[string]bool{}
		d.keys[shopID] = set
	}
	for _, c := range customers {
		if !set[c] {
			set[c] = true
			d.size++
		}
	}
}

// has reports whether the customer's hash must not be trusted.
func (d *dirtySet) has(shopID, customerID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.whole[shopID] || d.keys[shopID][customerID]
}

func (d *dirtySet) empty() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.size == 0 && len(d.whole) == 0
}

// snapshot returns the dirty entries to clean.
func (d *dirtySet) snapshot() (map[string][]string, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	keys := make(map[string][]string, len(d.keys))
	for shop, set := range d.keys {
		for c := range set {
			keys[shop] = append(keys[shop], c)
		}
	}
	var whole []string
	for shop := range d.whole {
		whole = append(whole, shop)
	}
	return keys, whole
}

// cleaned forgets entries that were removed from Redis.
func (d *dirtySet) cleaned(keys map[string][]string, whole []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for shop, customers := range keys {
		for _, c := range customers {
			if d.keys[shop][c] {
				delete(d.keys[shop], c)
				d.size--
			}
		}
		if len(d.keys[shop]) == 0 {
			delete(d.keys, shop)
		}
	}
	for _, shop := range whole {
		delete(d.whole, shop)
	}
}

// globEscape escapes the characters that Redis' MATCH patterns interpret.
func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}

// cleanDirty removes the dirty hashes from Redis. It runs in the cache's
// background loop whenever the dirty set is not empty.
func (c *Cache) cleanDirty(ctx context.Context) error {
	keys, whole := c.dirty.snapshot()
	err := c.call(ctx, func(ctx context.Context) error {
		for shop, customers := range keys {
			names := make([]string, len(customers))
			for i, cust := range customers {
				names[i] = Key(shop, cust)
			}
			for len(names) > 0 {
				n := min(len(names), 500)
				if err := c.rdb.Unlink(ctx, names[:n]...).Err(); err != nil {
					return err
				}
				names = names[n:]
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, shop := range whole {
		// A whole shop's scan can take longer than one call's timeout: it
		// runs under the loop's context, in steps that each get one.
		pattern := globEscape(keyPrefix(shop)) + "*}"
		var cursor uint64
		for {
			var found []string
			err := c.call(ctx, func(ctx context.Context) error {
				var err error
				found, cursor, err = c.rdb.Scan(ctx, cursor, pattern, 1000).Result()
				if err == nil && len(found) > 0 {
					err = c.rdb.Unlink(ctx, found...).Err()
				}
				return err
			})
			if err != nil {
				return err
			}
			if cursor == 0 {
				break
			}
		}
	}
	c.dirty.cleaned(keys, whole)
	return nil
}
