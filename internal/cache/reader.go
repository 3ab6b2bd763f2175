package cache

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
)

// Reader answers online reads. With a Cache it reads Redis first and fills
// it from Postgres on a miss; without one, or while Redis fails, it reads
// Postgres.
type Reader struct {
	pool   *pgxpool.Pool
	cache  *Cache
	logger *slog.Logger
}

// NewReader returns a Reader over pool, caching in c when c is not nil.
func NewReader(pool *pgxpool.Pool, c *Cache, logger *slog.Logger) *Reader {
	return &Reader{pool: pool, cache: c, logger: logger}
}

// ReadFeatures answers each lookup with the encoded record of each of its
// products in the order asked, "" where the pair has no stored row.
// Lookups must name distinct customers.
func (r *Reader) ReadFeatures(ctx context.Context, shopID string, lookups []store.Lookup) ([][]protoconv.EncodedRecord, error) {
	if r.cache == nil {
		return r.fromPostgres(ctx, shopID, lookups)
	}
	if r.cache.anyDirty(shopID, lookups) {
		r.cache.lookups.WithLabelValues("fallback").Add(float64(countProducts(lookups)))
		return r.fromPostgres(ctx, shopID, lookups)
	}
	out, missed, err := r.cache.lookup(ctx, shopID, lookups)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.cache.lookups.WithLabelValues("fallback").Add(float64(countProducts(lookups)))
		return r.fromPostgres(ctx, shopID, lookups)
	}
	hits := countProducts(lookups)
	if len(missed) > 0 {
		filled, err := r.fill(ctx, shopID, lookups, missed, out)
		if err != nil {
			return nil, err
		}
		hits -= filled
	}
	r.cache.lookups.WithLabelValues("hit").Add(float64(hits))
	return out, nil
}

// fill answers the missed lookups from all of their customers' stored rows,
// then writes those rows into Redis with the completeness mark, so the
// customer's next read costs no query. It returns the number of products
// it answered.
func (r *Reader) fill(ctx context.Context, shopID string, lookups []store.Lookup, missed []int, out [][]protoconv.EncodedRecord) (int, error) {
	customers := make([]string, len(missed))
	for i, m := range missed {
		customers[i] = lookups[m].CustomerID
	}
	// The pending mark makes the customers' hashes exist before Postgres is
	// read, so a compute run that commits meanwhile writes through to them
	// rather than skipping them as cold; the fill then merges by timestamp.
	// Without the mark in place a fill could hide that run's rows, so a
	// failure to set it only skips the fill.
	canFill := r.cache.markPending(ctx, shopID, customers) == nil
	rows, err := store.CustomersRows(ctx, r.pool, shopID, customers)
	if err != nil {
		return 0, err
	}
	answered := 0
	fills := make([]customerRecords, 0, len(missed))
	for _, m := range missed {
		l := lookups[m]
		cr := customerRecords{customerID: l.CustomerID, records: make(map[string]stampedRecord, len(rows[l.CustomerID]))}
		for i := range rows[l.CustomerID] {
			row := &rows[l.CustomerID][i]
			enc, err := protoconv.EncodeRecord(row)
			if err != nil {
				return 0, err
			}
			cr.records[row.ProductID] = stampedRecord{enc: enc, computedAt: row.ComputedAt}
		}
		for j, p := range l.ProductIDs {
			out[m][j] = cr.records[p].enc
		}
		fills = append(fills, cr)
		answered += len(l.ProductIDs)
	}
	r.cache.lookups.WithLabelValues("miss").Add(float64(answered))
	// A write-through that failed while Postgres was read leaves the hash
	// untrusted: do not mark it complete.
	if !canFill || r.cache.anyDirty(shopID, lookups) {
		return answered, nil
	}
	// The answer does not depend on the fill: a failed fill only means the
	// next read misses again.
	if err := r.cache.put(ctx, shopID, fills, "fill"); err != nil && ctx.Err() == nil {
		r.logger.DebugContext(ctx, "cache fill failed", "shop_id", shopID, "error", err)
	}
	return answered, nil
}

func (r *Reader) fromPostgres(ctx context.Context, shopID string, lookups []store.Lookup) ([][]protoconv.EncodedRecord, error) {
	rows, err := store.ReadPairs(ctx, r.pool, shopID, lookups)
	if err != nil {
		return nil, err
	}
	out := make([][]protoconv.EncodedRecord, len(rows))
	for i, rs := range rows {
		out[i] = make([]protoconv.EncodedRecord, len(rs))
		for j, row := range rs {
			if row == nil {
				continue
			}
			if out[i][j], err = protoconv.EncodeRecord(row); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// anyDirty reports whether a lookup's hash may hold vectors older than the
// table because a write-through to it failed.
func (c *Cache) anyDirty(shopID string, lookups []store.Lookup) bool {
	if c.dirty.empty() {
		return false
	}
	for _, l := range lookups {
		if c.dirty.has(shopID, l.CustomerID) {
			return true
		}
	}
	return false
}

func countProducts(lookups []store.Lookup) int {
	n := 0
	for _, l := range lookups {
		n += len(l.ProductIDs)
	}
	return n
}

// lookup reads every lookup's hash in one pipelined round trip. It returns
// the records of the lookups whose hash is complete and the indexes of the
// others, which the caller fills from Postgres.
func (c *Cache) lookup(ctx context.Context, shopID string, lookups []store.Lookup) ([][]protoconv.EncodedRecord, []int, error) {
	cmds := make([]*redis.SliceCmd, len(lookups))
	err := c.call(ctx, func(ctx context.Context) error {
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, l := range lookups {
				fields := make([]string, 0, len(l.ProductIDs)+1)
				fields = append(fields, completeField)
				fields = append(fields, l.ProductIDs...)
				cmds[i] = p.HMGet(ctx, Key(shopID, l.CustomerID), fields...)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([][]protoconv.EncodedRecord, len(lookups))
	var missed []int
	for i, cmd := range cmds {
		vals := cmd.Val()
		out[i] = make([]protoconv.EncodedRecord, len(lookups[i].ProductIDs))
		if vals[0] == nil {
			missed = append(missed, i)
			continue
		}
		for j, v := range vals[1:] {
			s, ok := v.(string)
			if !ok {
				continue
			}
			enc, err := decodeValue(s)
			if err != nil {
				// A value this process cannot read: treat the customer as
				// a miss, which rewrites it from Postgres.
				c.logger.WarnContext(ctx, "malformed cache value", "key", Key(shopID, lookups[i].CustomerID), "field", lookups[i].ProductIDs[j], "error", err)
				missed = append(missed, i)
				break
			}
			out[i][j] = enc
		}
	}
	return out, missed, nil
}

// pendingTTL is how long a pending mark keeps a hash that no fill completes.
const pendingTTL = 30 * time.Second

// markPending creates the customers' hashes, when missing, with only a
// pending mark and a short expiry.
func (c *Cache) markPending(ctx context.Context, shopID string, customers []string) error {
	return c.call(ctx, func(ctx context.Context) error {
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, cust := range customers {
				key := Key(shopID, cust)
				p.HSetNX(ctx, key, pendingField, "1")
				p.ExpireNX(ctx, key, pendingTTL)
			}
			return nil
		})
		return err
	})
}

// stampedRecord is a record with the time it was computed, which orders
// writes of the same pair.
type stampedRecord struct {
	enc        protoconv.EncodedRecord
	computedAt time.Time
}

// customerRecords are one customer's records, by product.
type customerRecords struct {
	customerID string
	records    map[string]stampedRecord
	// tombstones are products whose rows were removed, with the removal time.
	tombstones map[string]time.Time
}

// Writes are cut into script calls of at most putFields fields, sent in
// pipelines of at most putCalls calls, so that neither one script nor one
// round trip holds Redis long, however many pairs a customer or a run has.
const (
	putFields = 512
	putCalls  = 256
)

// scriptCall is one call of putScript: a hash and its arguments.
type scriptCall struct {
	key  string
	args []any
}

// put writes records into their customers' hashes with putScript in mode
// "fill" or "update". A customer's fill that takes several calls marks the
// hash complete only in its last, so a fill cut short leaves a hash that
// readers still treat as a miss.
func (c *Cache) put(ctx context.Context, shopID string, batch []customerRecords, mode string) error {
	ttl := strconv.FormatInt(c.cfg.TTL.Milliseconds(), 10)
	var calls []scriptCall
	for _, cr := range batch {
		var fields []any
		for product, rec := range cr.records {
			fields = append(fields, product, encodeValue(rec.enc, rec.computedAt))
		}
		for product, at := range cr.tombstones {
			fields = append(fields, product, tombstone(at))
		}
		key := Key(shopID, cr.customerID)
		for {
			n := min(len(fields), 2*putFields)
			callMode := mode
			if mode == "fill" && n < len(fields) {
				callMode = "part"
			}
			calls = append(calls, scriptCall{key: key, args: append([]any{ttl, callMode}, fields[:n]...)})
			fields = fields[n:]
			if len(fields) == 0 {
				break
			}
		}
	}
	for len(calls) > 0 {
		n := min(len(calls), putCalls)
		if err := c.runScripts(ctx, calls[:n], mode); err != nil {
			return err
		}
		calls = calls[n:]
	}
	return nil
}

// runScripts sends calls of putScript in one pipeline.
func (c *Cache) runScripts(ctx context.Context, calls []scriptCall, mode string) error {
	err := c.call(ctx, func(ctx context.Context) error {
		run := func() error {
			_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, call := range calls {
					putScript.EvalSha(ctx, p, []string{call.key}, call.args...)
				}
				return nil
			})
			return err
		}
		err := run()
		// A Redis that restarted has forgotten the script: load it and
		// try once more.
		if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			if err = putScript.Load(ctx, c.rdb).Err(); err == nil {
				err = run()
			}
		}
		return err
	})
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.writes.WithLabelValues(mode, result).Inc()
	return err
}
