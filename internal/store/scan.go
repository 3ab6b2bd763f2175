package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/features"
)

// ScanRequest selects the pairs that ScanPairs reads.
type ScanRequest struct {
	ShopID string
	// AsOf bounds the inputs: events and orders created after it do not exist
	// for the scan.
	AsOf time.Time
	// CustomerIDs restricts the scan to these customers; empty means all.
	CustomerIDs []string
}

// Pair is the input of one (customer, product) pair: its used interactions
// ordered by (created_at, id) and its order lines. ScanPairs reuses a Pair's
// slices from one call of its callback to the next.
type Pair struct {
	CustomerID string
	ProductID  string
	Events     []features.Event
	Lines      []features.OrderLine
}

// The scan's queries apply FEATURES.md 1.2 and section 4 in SQL, so that
// unused rows never cross the wire, and sort in byte order ("C") so pairs
// arrive in the order the merge below and every other reader expects. Each
// column is cast to the type the wire decoder expects, whatever the table's
// declared type.
const (
	eventsQuery = `
SELECT customer_id::text, product_id::text, id::text, created_at::timestamptz,
       event_type::text, page_type::text, device_type::text, referrer_type::text, view_duration::float8
  FROM user_interactions
 WHERE shop_id = $1 AND customer_id <> '' AND product_id <> '' AND created_at <= $2
   AND (cardinality($3::text[]) = 0 OR customer_id = ANY($3::text[]))
 ORDER BY customer_id COLLATE "C", product_id COLLATE "C", created_at, id COLLATE "C"`

	// An order is counted once per (customer, order_id) even if order_data
	// holds it twice; its latest creation at or before as_of stands for it.
	linesQuery = `
WITH orders AS (
    SELECT DISTINCT ON (customer_id, order_id) customer_id, order_id, created_at
      FROM order_data
     WHERE shop_id = $1 AND customer_id <> '' AND created_at <= $2
       AND (cardinality($3::text[]) = 0 OR customer_id = ANY($3::text[]))
     ORDER BY customer_id, order_id, created_at DESC
)
SELECT o.customer_id::text, li.product_id::text, o.order_id::text, o.created_at::timestamptz,
       li.quantity::int8, li.price::float8,
       (SELECT p.price::float8 FROM product_data p
         WHERE p.shop_id = li.shop_id AND p.product_id = li.product_id
         ORDER BY p.id LIMIT 1)
  FROM orders o
  JOIN line_item_data li ON li.shop_id = $1 AND li.order_id = o.order_id
 WHERE li.product_id <> ''
 ORDER BY o.customer_id COLLATE "C", li.product_id COLLATE "C", o.created_at, o.order_id COLLATE "C", li.id COLLATE "C"`
)

// binaryResults asks Postgres for every result column in binary format, the
// only format the wire decoder reads.
var binaryResults = pgx.QueryResultFormats{pgx.BinaryFormatCode}

// cursor walks one ordered result whose first two columns are the pair key.
type cursor struct {
	rows pgx.Rows
	raw  [][]byte
	done bool
}

func (c *cursor) next() error {
	if c.rows.Next() {
		c.raw = c.rows.RawValues()
		return nil
	}
	c.done, c.raw = true, nil
	return c.rows.Err()
}

// compareKey orders the cursor's current pair against (customer, product)
// in byte order, as COLLATE "C" does.
func (c *cursor) compareKey(customer, product []byte) int {
	if n := bytes.Compare(c.raw[0], customer); n != 0 {
		return n
	}
	return bytes.Compare(c.raw[1], product)
}

func (c *cursor) isKey(customer, product string) bool {
	return !c.done && string(c.raw[0]) == customer && string(c.raw[1]) == product
}

// ScanPairs calls fn once for every pair of the request's shop, in
// (customer_id, product_id) byte order, with the pair's used interactions and
// order lines at req.AsOf. It holds one pair in memory at a time. fn must not
// keep the Pair or its slices after it returns; an error from fn stops the
// scan and is returned as is.
func ScanPairs(ctx context.Context, pool *pgxpool.Pool, req ScanRequest, fn func(*Pair) error) error {
	ctx, cancel := context.WithCancel(ctx)
	// Cancelling before the rows are closed stops Postgres rather than
	// draining the rest of a large result when fn fails.
	defer cancel()
	customers := req.CustomerIDs
	if customers == nil {
		customers = []string{}
	}
	evRows, err := pool.Query(ctx, eventsQuery, binaryResults, req.ShopID, req.AsOf, customers)
	if err != nil {
		return translate(fmt.Errorf("query events: %w", err))
	}
	defer evRows.Close()
	lnRows, err := pool.Query(ctx, linesQuery, binaryResults, req.ShopID, req.AsOf, customers)
	if err != nil {
		return translate(fmt.Errorf("query order lines: %w", err))
	}
	defer lnRows.Close()
	defer cancel()

	ev, ln := &cursor{rows: evRows}, &cursor{rows: lnRows}
	if err := ev.next(); err != nil {
		return translate(fmt.Errorf("read events: %w", err))
	}
	if err := ln.next(); err != nil {
		return translate(fmt.Errorf("read order lines: %w", err))
	}
	in := newInterner()
	var p Pair
	for !ev.done || !ln.done {
		first := ev
		if ev.done || (!ln.done && ln.compareKey(ev.raw[0], ev.raw[1]) < 0) {
			first = ln
		}
		p.CustomerID, p.ProductID = string(first.raw[0]), string(first.raw[1])
		p.Events, p.Lines = p.Events[:0], p.Lines[:0]
		for ev.isKey(p.CustomerID, p.ProductID) {
			e, err := decodeEvent(ev.raw, in)
			if err != nil {
				return fmt.Errorf("decode event of customer %q product %q: %w", p.CustomerID, p.ProductID, err)
			}
			p.Events = append(p.Events, e)
			if err := ev.next(); err != nil {
				return translate(fmt.Errorf("read events: %w", err))
			}
		}
		for ln.isKey(p.CustomerID, p.ProductID) {
			l, err := decodeLine(ln.raw)
			if err != nil {
				return fmt.Errorf("decode order line of customer %q product %q: %w", p.CustomerID, p.ProductID, err)
			}
			p.Lines = append(p.Lines, l)
			if err := ln.next(); err != nil {
				return translate(fmt.Errorf("read order lines: %w", err))
			}
		}
		if err := fn(&p); err != nil {
			return err
		}
	}
	return nil
}

// decodeEvent decodes a row of eventsQuery.
func decodeEvent(raw [][]byte, in *interner) (features.Event, error) {
	created, err := decodeTimestamptz(raw[3])
	if err != nil {
		return features.Event{}, err
	}
	duration := math.NaN()
	if raw[8] != nil {
		if duration, err = decodeFloat8(raw[8]); err != nil {
			return features.Event{}, err
		}
	}
	return features.Event{
		ID:           string(raw[2]),
		CreatedAt:    created,
		EventType:    in.intern(raw[4]),
		PageType:     in.intern(raw[5]),
		DeviceType:   in.intern(raw[6]),
		ReferrerType: in.intern(raw[7]),
		ViewDuration: duration,
	}, nil
}

// decodeLine decodes a row of linesQuery.
func decodeLine(raw [][]byte) (features.OrderLine, error) {
	created, err := decodeTimestamptz(raw[3])
	if err != nil {
		return features.OrderLine{}, err
	}
	l := features.OrderLine{OrderID: string(raw[2]), OrderCreatedAt: created}
	if raw[4] != nil {
		q, err := decodeInt8(raw[4])
		if err != nil {
			return l, err
		}
		l.Quantity = features.Some(q)
	}
	if l.Price, err = nullFloat8(raw[5]); err != nil {
		return l, err
	}
	if l.ProductPrice, err = nullFloat8(raw[6]); err != nil {
		return l, err
	}
	return l, nil
}

func nullFloat8(b []byte) (features.Null[float64], error) {
	if b == nil {
		return features.Null[float64]{}, nil
	}
	f, err := decodeFloat8(b)
	return features.Some(f), err
}

// CopyOrderedEvents writes, with COPY in binary format, exactly the rows the
// scan's event query reads in the order it reads them. It measures the floor
// of a compute run: what Postgres alone takes to deliver the events in pair
// order.
func CopyOrderedEvents(ctx context.Context, pool *pgxpool.Pool, req ScanRequest, w io.Writer) (int64, error) {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	customers := make([]string, len(req.CustomerIDs))
	for i, c := range req.CustomerIDs {
		customers[i] = quote(c)
	}
	query := strings.NewReplacer(
		"$1", quote(req.ShopID),
		"$2", quote(req.AsOf.UTC().Format(time.RFC3339Nano))+"::timestamptz",
		"$3::text[]", "ARRAY["+strings.Join(customers, ",")+"]::text[]",
	).Replace(eventsQuery)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("acquire connection: %w", err))
	}
	defer conn.Release()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, w, "COPY ("+query+") TO STDOUT (FORMAT binary)")
	if err != nil {
		return 0, translate(fmt.Errorf("copy ordered events: %w", err))
	}
	return tag.RowsAffected(), nil
}
