package cache

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
)

// Source is the reader a Cache wraps: the source of truth it falls back on
// and fills itself from, which also keeps the shared record of hashes to
// repair. *store.Store implements it.
type Source interface {
	Marks
	// ReadPairs must answer each lookup with a record of each of its
	// products in the order asked (repeats included), not found where the
	// pair has no stored row, in one round trip.
	ReadPairs(ctx context.Context, shopID string, lookups []store.Lookup) ([][]store.Record, error)
	// CustomersRows must return every stored row of the given customers of
	// a shop, by customer, in one round trip: a customer's complete set of
	// rows is what lets the cache answer any of its products, found or not.
	CustomersRows(ctx context.Context, shopID string, customerIDs []string) (map[string][]store.StoredRow, error)
}

var _ Source = (*store.Store)(nil)

// ReadPairs answers online reads with Redis in front of the Source, with
// the Source's contract: each lookup is answered with a record of each of
// its products in the order asked, not found where the pair has no stored
// row. Lookups must name distinct customers. A customer whose hash is
// complete costs no read of the Source; one that is not is filled from
// the Source with all of its rows, once for every caller missing it at
// the same time. While Redis fails, or for a hash marked for repair in
// any process, reads go to the Source.
func (c *Cache) ReadPairs(ctx context.Context, shopID string, lookups []store.Lookup) ([][]store.Record, error) {
	// The records view reply buffers that are left to the garbage
	// collector: nothing else will use them.
	out, _, err := c.readPairs(ctx, shopID, lookups)
	return out, err
}

// LendPairs is ReadPairs for a caller done with the records when fn
// returns: the records may view buffers of Redis replies, which are
// reused once fn returns, so fn must neither keep them nor any string of
// theirs. It saves allocating a buffer the size of every reply.
func (c *Cache) LendPairs(ctx context.Context, shopID string, lookups []store.Lookup, fn func([][]store.Record) error) error {
	out, held, err := c.readPairs(ctx, shopID, lookups)
	if err != nil {
		return err
	}
	defer c.replies.put(held)
	return fn(out)
}

// readPairs is ReadPairs, returning also the reply buffers its records
// view.
func (c *Cache) readPairs(ctx context.Context, shopID string, lookups []store.Lookup) ([][]store.Record, []*bytes.Buffer, error) {
	if !c.marks.empty() && c.anyDirty(shopID, customersOf(lookups, nil)) {
		c.fallbacks.Add(float64(countProducts(lookups)))
		out, err := c.source.ReadPairs(ctx, shopID, lookups)
		return out, nil, err
	}
	out, missed, held, err := c.lookup(ctx, shopID, lookups)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		c.fallbacks.Add(float64(countProducts(lookups)))
		out, err := c.source.ReadPairs(ctx, shopID, lookups)
		return out, nil, err
	}
	hits := countProducts(lookups)
	if len(missed) > 0 {
		filled, again, err := c.fill(ctx, shopID, lookups, missed, out)
		held = append(held, again...)
		if err != nil {
			c.replies.put(held)
			return nil, nil, err
		}
		hits -= filled
	}
	c.hits.Add(float64(hits))
	return out, held, nil
}

// fill answers the missed lookups from all of their customers' stored rows
// (see load) and returns the number of products it did not answer from
// Redis. A customer that another fill completed in the meantime is read
// from Redis instead, and counts as a hit.
func (c *Cache) fill(ctx context.Context, shopID string, lookups []store.Lookup, missed []int, out [][]store.Record) (answered int, held []*bytes.Buffer, err error) {
	if c.tracer != nil {
		var span trace.Span
		ctx, span = c.tracer.Start(ctx, "cache.fill", trace.WithAttributes(attribute.Int("featurestore.customers", len(missed))))
		defer func() {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, "fill failed")
			}
			span.End()
		}()
	}
	customers := customersOf(lookups, missed)
	loaded, err := c.loadShared(ctx, shopID, customers)
	if err != nil {
		return 0, nil, err
	}
	var again []store.Lookup
	var againAt []int
	for _, m := range missed {
		l := lookups[m]
		records, ok := loaded.records[l.CustomerID]
		if !ok {
			again, againAt = append(again, l), append(againAt, m)
			continue
		}
		for j, p := range l.ProductIDs {
			out[m][j] = records[p].record()
		}
		answered += len(l.ProductIDs)
	}
	c.misses.Add(float64(answered))
	if len(again) == 0 {
		return answered, nil, nil
	}
	// Completed by another fill: Redis has every row of these customers
	// now; read them there, or from the Source if they are gone again.
	recs, stillMissed, held, err := c.lookup(ctx, shopID, again)
	if err != nil || len(stillMissed) > 0 {
		c.replies.put(held)
		held = nil
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		if recs, err = c.source.ReadPairs(ctx, shopID, again); err != nil {
			return 0, nil, err
		}
		c.fallbacks.Add(float64(countProducts(again)))
		answered += countProducts(again)
	}
	for i, m := range againAt {
		out[m] = recs[i]
	}
	return answered, held, nil
}

// loaded is the outcome of one load of customers' rows, shared by every
// caller that missed the same customers at the same time; it is not
// changed once made.
type loaded struct {
	// records holds the records of each customer read from the Source, by
	// product: all of its stored rows.
	records map[string]map[string]stampedRecord
}

// loadShared loads customers through c.flights: callers that miss the same
// customers of a shop at the same time share one load, so that a burst of
// reads of a cold customer costs one read of the Source, not one each. The
// load runs under the context of the caller that started it, so that its
// query ends when that caller goes away; the others then start a load of
// their own rather than fail for a caller that is not theirs.
func (c *Cache) loadShared(ctx context.Context, shopID string, customers []string) (*loaded, error) {
	sorted := slices.Sorted(slices.Values(customers))
	// Ids cannot hold a NUL (invalid.CheckText), so the key names exactly
	// one set of customers of one shop.
	key := shopID + "\x00" + strings.Join(sorted, "\x00")
	for {
		ch := c.flights.DoChan(key, func() (any, error) { return c.load(ctx, shopID, sorted) })
		select {
		case r := <-ch:
			if r.Err != nil && isContextErr(r.Err) && ctx.Err() == nil {
				continue // the caller who led the load went away
			}
			if r.Err != nil {
				return nil, r.Err
			}
			return r.Val.(*loaded), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// load reads all of the customers' stored rows from the Source, then
// writes them into Redis with the completeness mark, so that a customer's
// next read costs no query. Customers whose hash another fill completed
// since the caller looked are left out: the caller reads them from Redis.
func (c *Cache) load(ctx context.Context, shopID string, customers []string) (*loaded, error) {
	// The pending mark makes the customers' hashes exist before the Source
	// is read, so a compute run that commits meanwhile writes through to
	// them rather than skipping them as cold; the fill then merges by
	// timestamp. Without the mark in place a fill could hide that run's
	// rows, so a failure to set it only skips the fill.
	complete, err := c.markPending(ctx, shopID, customers)
	canFill := err == nil
	toRead := slices.DeleteFunc(slices.Clone(customers), func(cust string) bool { return complete[cust] })
	out := &loaded{records: make(map[string]map[string]stampedRecord, len(toRead))}
	if len(toRead) == 0 {
		return out, nil
	}
	marksBefore := c.marks.changes()
	rows, err := c.source.CustomersRows(ctx, shopID, toRead)
	if err != nil {
		return nil, err
	}
	fills := make([]customerRecords, 0, len(toRead))
	for _, cust := range toRead {
		cr := customerRecords{customerID: cust, records: make(map[string]stampedRecord, len(rows[cust]))}
		for i := range rows[cust] {
			row := &rows[cust][i]
			rec, err := newStampedRecord(row)
			if err != nil {
				return nil, err
			}
			cr.records[row.ProductID] = rec
		}
		out.records[cust] = cr.records
		fills = append(fills, cr)
	}
	// A write-through that failed while the Source was read leaves the hash
	// untrusted: do not mark it complete. Nor when the record of marks
	// moved meanwhile: a mark may have come and been repaired since the
	// read began, and these rows may be older than what the repair removed.
	if !canFill || c.marks.changes() != marksBefore || c.anyDirty(shopID, toRead) {
		return out, nil
	}
	// The answer does not depend on the fill: a failed fill only means the
	// next read misses again.
	if err := c.put(ctx, shopID, fills, "fill"); err != nil && ctx.Err() == nil {
		c.logger.DebugContext(ctx, "cache fill failed", "shop_id", shopID, "error", err)
	}
	return out, nil
}

// customersOf returns the customers of the lookups at indexes, or of all
// lookups when indexes is nil.
func customersOf(lookups []store.Lookup, indexes []int) []string {
	if indexes == nil {
		out := make([]string, len(lookups))
		for i, l := range lookups {
			out[i] = l.CustomerID
		}
		return out
	}
	out := make([]string, len(indexes))
	for i, m := range indexes {
		out[i] = lookups[m].CustomerID
	}
	return out
}

// anyDirty reports whether a customer's hash may hold vectors older than
// the table because a write-through to it failed, here or in any process
// whose record this process has read (marks.go).
func (c *Cache) anyDirty(shopID string, customers []string) bool {
	if c.marks.empty() {
		return false
	}
	for _, cust := range customers {
		if c.marks.has(shopID, cust) {
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
// the records of the lookups whose hash is complete, the indexes of the
// others, which the caller fills from Postgres, and the reply buffers the
// records view (see LendPairs).
func (c *Cache) lookup(ctx context.Context, shopID string, lookups []store.Lookup) ([][]store.Record, []int, []*bytes.Buffer, error) {
	out := make([][]store.Record, len(lookups))
	var missed []int
	replies := make([]*bytes.Buffer, len(lookups))
	err := c.call(ctx, func(ctx context.Context) error {
		cmds := make([]*redis.RawWriteToCmd, len(lookups))
		for i, l := range lookups {
			args := make([]any, 0, len(l.ProductIDs)+3)
			args = append(args, "hmget", Key(shopID, l.CustomerID), completeField)
			for _, p := range l.ProductIDs {
				args = append(args, p)
			}
			replies[i] = c.replies.get(len(args) - 2)
			cmds[i] = redis.NewRawWriteToCmd(ctx, replies[i], args...)
		}
		var err error
		if len(cmds) == 1 {
			err = c.rdb.Process(ctx, cmds[0])
		} else {
			_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, cmd := range cmds {
					_ = p.Process(ctx, cmd)
				}
				return nil
			})
		}
		if err != nil {
			return err
		}
		// Read inside the call, so that an error reply counts as Redis
		// failing.
		missed = missed[:0]
		read := func(i int, values hmgetValues) error {
			complete, recs, err := c.readLookup(ctx, values, shopID, lookups[i])
			if err != nil {
				return err
			}
			if !complete {
				missed = append(missed, i)
			}
			out[i] = recs
			return nil
		}
		var redirected []int
		for i, reply := range replies {
			c.replies.observe(reply.Len(), len(lookups[i].ProductIDs)+1)
			r, err := readArray(reply.Bytes(), len(lookups[i].ProductIDs)+1)
			if isRedirect(err) {
				redirected = append(redirected, i)
				continue
			}
			if err == nil {
				err = read(i, &r)
			}
			if err != nil {
				return err
			}
		}
		if len(redirected) == 0 {
			return nil
		}
		values, err := c.lookupParsed(ctx, cmds, redirected)
		if err != nil {
			return err
		}
		for j, i := range redirected {
			if err := read(i, &values[j]); err != nil {
				return err
			}
		}
		slices.Sort(missed)
		return nil
	})
	if err != nil {
		c.replies.put(replies)
		return nil, nil, nil, err
	}
	return out, missed, replies, nil
}

// lookupParsed sends the raw HMGETs at indexes again as commands whose
// replies go-redis parses, so that it follows a Redis Cluster's redirects
// (a raw reply hands them over as they are), and returns their values.
func (c *Cache) lookupParsed(ctx context.Context, raw []*redis.RawWriteToCmd, indexes []int) ([]parsedValues, error) {
	cmds := make([]*redis.SliceCmd, len(indexes))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range indexes {
			cmds[j] = redis.NewSliceCmd(ctx, raw[i].Args()...)
			_ = p.Process(ctx, cmds[j])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	values := make([]parsedValues, len(cmds))
	for j, cmd := range cmds {
		values[j] = cmd.Val()
	}
	return values, nil
}

// readLookup reads the values of one lookup's HMGET: whether the hash is
// complete and, if it is, a record of each product. A value this process
// cannot read makes the hash count as incomplete, which rewrites it from
// Postgres. The records' strings are the values' (views of a raw reply).
func (c *Cache) readLookup(ctx context.Context, r hmgetValues, shopID string, l store.Lookup) (bool, []store.Record, error) {
	recs := make([]store.Record, len(l.ProductIDs))
	if _, complete, err := r.next(); err != nil || !complete {
		return false, recs, err
	}
	for j := range recs {
		v, ok, err := r.next()
		if err != nil {
			return false, nil, err
		}
		if !ok {
			continue
		}
		if recs[j], err = decodeValue(v); err != nil {
			c.logger.WarnContext(ctx, "malformed cache value", "key", Key(shopID, l.CustomerID), "field", l.ProductIDs[j], "error", err)
			return false, recs, nil
		}
	}
	return true, recs, nil
}

// pendingTTL is how long a pending mark keeps a hash that no fill completes.
const pendingTTL = 30 * time.Second

// markPending creates the customers' hashes, when missing, with only a
// pending mark and a short expiry, in one round trip that also reports
// which of them are complete already.
func (c *Cache) markPending(ctx context.Context, shopID string, customers []string) (map[string]bool, error) {
	complete := make(map[string]bool, len(customers))
	err := c.call(ctx, func(ctx context.Context) error {
		cmds := make([]*redis.BoolCmd, len(customers))
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, cust := range customers {
				key := Key(shopID, cust)
				cmds[i] = p.HExists(ctx, key, completeField)
				p.HSetNX(ctx, key, pendingField, "1")
				p.ExpireNX(ctx, key, pendingTTL)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, cust := range customers {
			complete[cust] = cmds[i].Val()
		}
		return nil
	})
	return complete, err
}

// stampedRecord is a record in the form the cache keeps, with its dense
// values and the time it was computed, which orders writes of the same
// pair.
type stampedRecord struct {
	enc        protoconv.EncodedRecord
	dense      string
	computedAt time.Time
}

// newStampedRecord encodes a stored row as the cache keeps it.
func newStampedRecord(row *store.StoredRow) (stampedRecord, error) {
	enc, err := protoconv.EncodeRecord(row)
	if err != nil {
		return stampedRecord{}, err
	}
	return stampedRecord{enc: enc, dense: string(protoconv.AppendDense32(nil, &row.Vector)), computedAt: row.ComputedAt}, nil
}

// record is the answer the cache gives for the record.
func (r stampedRecord) record() store.Record {
	if r.enc == "" {
		return store.Record{} // a product without a row
	}
	return store.Record{Encoded: string(r.enc), Dense: r.dense, ComputedAtMicros: r.computedAt.UnixMicro()}
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
			fields = append(fields, product, encodeValue(rec))
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
		if isNoScript(err) {
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

// isNoScript reports whether err is Redis answering that it does not know
// a script's digest. go-redis hands the server's error over as a
// redis.Error, normalised to redis.ErrNoScript where the reply was read
// already, and raw (a pipeline's) otherwise; both are recognised, as
// go-redis' own Script.Run does.
func isNoScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}
