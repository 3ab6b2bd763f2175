package store

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/features"
)

// ScanRequest selects the pairs that ScanPairs reads. Its restrictions
// combine: a pair is read when it meets all of them.
type ScanRequest struct {
	ShopID string
	// AsOf bounds the inputs: events and orders created after it do not exist
	// for the scan.
	AsOf time.Time
	// CustomerIDs restricts the scan to these customers; empty means all.
	CustomerIDs []string
	// Customers restricts the scan to a range of customer ids.
	Customers CustomerRange
	// Pairs, when not nil, restricts the scan to these pairs: an incremental
	// run reads only the pairs whose inputs changed. A non-nil empty slice
	// reads nothing.
	Pairs []PairKey
	// After, when not nil, starts the scan with the first pair that sorts
	// after it, so that a point-in-time export can resume.
	After *PairKey
}

// CustomerRange holds the customer ids from From (included) to To
// (excluded) in byte order. An empty bound leaves that side open: no used
// customer id is empty.
type CustomerRange struct {
	From, To string
}

// Pair is the input of one (customer, product) pair: its used interactions,
// those of the clients linked to the customer among them, ordered by
// (created_at, id), and its order lines. ScanPairs reuses a Pair's
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
// declared type. Every kind of run (whole shop, customer range, changed
// pairs, resumed export) reads through these two queries with only the
// scope conditions differing, so a pair's inputs, and the order the kernel
// sees them in, are the same whichever run reads it.
//
// arg renders a value into the query text: placeholders numbers the
// parameters. featurestore-bench captures the statements a scan sends and
// copies their results, so that its floor runs exactly the statement a run
// does.

// eventsSQL is the ordered read of the shop's used interactions. A list
// of pairs is read pair by pair through the pair-scan index (LATERAL makes
// the planner do so whatever it guesses of the list's length; joined to the
// list, it would sort the whole shop), with the same conditions, columns
// and order as any other scan.
//
// With resolve, the rows of anonymous clients are read too, under the
// customer their link names (FEATURES.md 1.4): a second ordered leg, merged
// with the first by Postgres (a Merge Append), so that a pair's rows arrive
// together and in (created_at, id) order, exactly as if they had carried the
// customer's id. Each leg sorts itself: Postgres 15 builds a Merge Append
// of a UNION ALL only from legs that do, and so the identified leg stays the
// index-ordered read it is without resolution.
func eventsSQL(req ScanRequest, resolve bool, arg func(any) string) string {
	identified := identifiedEventsSQL(req, arg)
	if !resolve {
		return identified
	}
	return linksSQL(req, arg) + `
SELECT s.* FROM ((` + identified + `
) UNION ALL (` + anonymousEventsSQL(req, arg) + `
)) s` + eventOrder("s.")
}

// eventColumns are the columns of a scanned event, cast to the types the
// wire decoder expects, for a table aliased by prefix ("" or "u.").
func eventColumns(prefix string) string {
	return prefix + `product_id::text AS product_id, ` + prefix + `id::text AS id, ` + prefix + `created_at::timestamptz AS created_at,
       ` + prefix + `event_type::text AS event_type, ` + prefix + `page_type::text AS page_type, ` + prefix + `device_type::text AS device_type,
       ` + prefix + `referrer_type::text AS referrer_type, ` + prefix + `view_duration::float8 AS view_duration`
}

// eventOrder orders events by pair, then as the kernel reads them, for a
// relation aliased by prefix ("" or "e.").
func eventOrder(prefix string) string {
	return `
 ORDER BY ` + prefix + `customer_id COLLATE "C", ` + prefix + `product_id COLLATE "C", ` + prefix + `created_at, ` + prefix + `id COLLATE "C"`
}

// identifiedEventsSQL reads the used interactions that name their customer.
func identifiedEventsSQL(req ScanRequest, arg func(any) string) string {
	columns := `customer_id::text AS customer_id, ` + eventColumns("")
	used := `shop_id = ` + arg(req.ShopID) + ` AND customer_id <> '' AND product_id <> '' AND created_at <= ` + arg(req.AsOf)
	if req.Pairs != nil {
		customers, products := pairColumns(req.Pairs)
		return `
SELECT e.* FROM unnest(` + arg(customers) + `, ` + arg(products) + `) AS k(customer_id, product_id), LATERAL (
    SELECT ` + columns + `
      FROM user_interactions
     WHERE ` + used + ` AND customer_id COLLATE "C" = k.customer_id AND product_id COLLATE "C" = k.product_id` +
			req.customerScope("customer_id", arg) + req.pairScope("customer_id", "product_id", arg) + `) e` + eventOrder("e.")
	}
	return `
SELECT ` + columns + `
  FROM user_interactions
 WHERE ` + used + req.customerScope("customer_id", arg) + req.pairScope("customer_id", "product_id", arg) + eventOrder("")
}

// linksSQL is the WITH clause that the anonymous leg reads the links of
// clients from (FEATURES.md 1.4). For the whole shop, or a range of
// customers, it defines links(client_id, customer_id): every client's
// first linking row, read in one ordered pass over
// user_interactions_client_link_idx without visiting the table.
//
// For a list of customers, or of pairs, reading every row of those
// customers to find their clients would cost about as much as reading the
// whole shop once the list holds a third of its customers, as 1% of its
// pairs does. Instead candidates(customer_id, client_id) walks
// user_interactions_customer_client_idx from one client of a listed
// customer to the next (a recursive CTE, one index probe per client,
// without visiting the table; a NULL client ends each customer's walk):
// every client whose linking rows name the customer, whenever they were
// made. A client linked to a customer at as_of is among them, since its
// first linking row names that customer; it may be among those of other
// customers too. For a list of customers, links keeps each candidate whose
// link (firstLinkSQL) names the customer it was found under, so that each
// client counts once, under its link. A list of pairs checks the link of
// the few candidates that hold rows of a listed pair's product instead
// (anonymousEventsSQL).
func linksSQL(req ScanRequest, arg func(any) string) string {
	customers := req.CustomerIDs
	if req.Pairs != nil {
		customers = distinctCustomers(req.Pairs)
		if len(req.CustomerIDs) > 0 {
			customers = slices.DeleteFunc(customers, func(c string) bool { return !slices.Contains(req.CustomerIDs, c) })
		}
	}
	// A customer listed twice would have its clients walked, and their
	// rows read, twice.
	customers = slices.Compact(slices.Sorted(slices.Values(customers)))
	if len(customers) == 0 && req.Pairs == nil {
		return `
WITH links AS (
    SELECT DISTINCT ON (client_id COLLATE "C") client_id COLLATE "C" AS client_id, customer_id::text AS customer_id
      FROM user_interactions
     WHERE ` + linkingSQL(req, arg) + `
     ORDER BY client_id COLLATE "C", created_at, id COLLATE "C"
)`
	}
	shop := arg(req.ShopID)
	nextClient := func(customer, after string) string {
		return `(SELECT client_id::text COLLATE "C" FROM user_interactions
         WHERE shop_id = ` + shop + ` AND client_id <> '' AND customer_id <> '' AND customer_id COLLATE "C" = ` + customer + after + `
         ORDER BY client_id COLLATE "C" LIMIT 1)`
	}
	candidates := `
WITH RECURSIVE candidates(customer_id, client_id) AS (
    SELECT c.customer_id COLLATE "C", ` + nextClient("c.customer_id", "") + `
      FROM unnest(` + arg(customers) + `) AS c(customer_id)
    UNION ALL
    SELECT k.customer_id, ` + nextClient("k.customer_id", ` AND client_id COLLATE "C" > k.client_id`) + `
      FROM candidates k WHERE k.client_id IS NOT NULL
)`
	if req.Pairs != nil {
		return candidates
	}
	return candidates + `, links AS (
    SELECT k.client_id, k.customer_id FROM candidates k
     WHERE k.client_id IS NOT NULL AND k.customer_id = (` + firstLinkSQL(req, arg, "k.client_id") + `)
)`
}

// linkingSQL selects the shop's linking rows at as_of (FEATURES.md 1.4).
func linkingSQL(req ScanRequest, arg func(any) string) string {
	return `shop_id = ` + arg(req.ShopID) + ` AND client_id <> '' AND customer_id <> '' AND created_at <= ` + arg(req.AsOf)
}

// firstLinkSQL selects the link at as_of of the client that the SQL
// expression client names: the customer of its first linking row, one
// probe of user_interactions_client_link_idx; none when it has no linking
// row.
func firstLinkSQL(req ScanRequest, arg func(any) string, client string) string {
	return `
        SELECT customer_id::text FROM user_interactions
         WHERE ` + linkingSQL(req, arg) + ` AND client_id COLLATE "C" = ` + client + `
         ORDER BY created_at, id COLLATE "C" LIMIT 1`
}

// anonymousEventsSQL reads the used interactions of anonymous clients under
// the customer of their link, in the scan's order. The links come sorted
// by customer and each client's rows are read from
// user_interactions_client_anonymous_idx in a nested loop (OFFSET 0 keeps
// Postgres from turning it into a join that loses that order), so the
// final sort only orders each customer's rows among themselves, a few at a
// time, instead of sorting the leg whole.
//
// A list of pairs is read pair by pair instead: for each listed pair, each
// candidate client of its customer is one probe of the same index, by
// client and product, so that a client's rows of other products are never
// read; a row found is kept when its client's link names the pair's
// customer. Most candidates hold no row of the pair's product, and their
// link is never looked up.
func anonymousEventsSQL(req ScanRequest, arg func(any) string) string {
	used := func(client, product string) string {
		return `
      FROM user_interactions
     WHERE shop_id = ` + arg(req.ShopID) + ` AND client_id COLLATE "C" = ` + client + product + `
       AND client_id <> '' AND (customer_id IS NULL OR customer_id = '')
       AND product_id <> '' AND created_at <= ` + arg(req.AsOf) + `
    OFFSET 0) u`
	}
	if req.Pairs != nil {
		customers, products := pairColumns(req.Pairs)
		return `
SELECT k.customer_id, u.*
  FROM unnest(` + arg(customers) + `, ` + arg(products) + `) AS k(customer_id, product_id)
  JOIN candidates c ON c.customer_id = k.customer_id, LATERAL (
    SELECT ` + eventColumns("") + used("c.client_id", ` AND product_id COLLATE "C" = k.product_id`) + `
 WHERE c.client_id IS NOT NULL AND k.customer_id = (` + firstLinkSQL(req, arg, "c.client_id") + `)` +
			req.customerScope("k.customer_id", arg) + req.pairScope("k.customer_id", "k.product_id", arg) + `
 ORDER BY k.customer_id COLLATE "C", u.product_id COLLATE "C", u.created_at, u.id COLLATE "C"`
	}
	return `
SELECT l.customer_id, u.*
  FROM (SELECT client_id, customer_id FROM links
         WHERE true` + req.customerScope("customer_id", arg) + `
         ORDER BY customer_id COLLATE "C") l, LATERAL (
    SELECT ` + eventColumns("") + used("l.client_id", "") + `
 WHERE true` + req.pairScope("l.customer_id", "u.product_id", arg) + `
 ORDER BY l.customer_id COLLATE "C", u.product_id COLLATE "C", u.created_at, u.id COLLATE "C"`
}

// hasAnonymousClientsSQL tells whether the shop has rows that identity
// resolution may attribute: one probe of
// user_interactions_client_anonymous_idx. A shop without them is read
// exactly as it was before client ids existed.
const hasAnonymousClientsSQL = `SELECT EXISTS (SELECT FROM user_interactions
 WHERE shop_id = $1 AND client_id <> '' AND (customer_id IS NULL OR customer_id = ''))`

// linesSQL is the ordered read of the shop's order lines. An order is
// counted once per (customer, order_id) even if order_data holds it twice;
// its latest creation at or before as_of stands for it. For a list of
// pairs, each order of a listed customer has its lines read through
// line_item_data_shop_order_idx (OFFSET 0 keeps it so), and a line is kept
// when its pair is listed: joined to the list first, by product, Postgres
// would pair every line of the shop with every listed pair of its product
// and sort the lot.
func linesSQL(req ScanRequest, arg func(any) string) string {
	var lines string
	if req.Pairs == nil {
		lines = `
  JOIN line_item_data li ON li.shop_id = ` + arg(req.ShopID) + ` AND li.order_id = o.order_id
 WHERE li.product_id <> ''`
	} else {
		lines = `, LATERAL (
    SELECT * FROM line_item_data
     WHERE shop_id = ` + arg(req.ShopID) + ` AND order_id = o.order_id AND product_id <> ''
    OFFSET 0) li
 WHERE true`
	}
	return `
WITH orders AS (
    SELECT DISTINCT ON (customer_id, order_id) customer_id, order_id, created_at
      FROM order_data
     WHERE shop_id = ` + arg(req.ShopID) + ` AND customer_id <> '' AND created_at <= ` + arg(req.AsOf) +
		req.customerScope("customer_id", arg) + req.pairCustomers("customer_id", arg) + `
     ORDER BY customer_id, order_id, created_at DESC
)
SELECT o.customer_id::text, li.product_id::text, o.order_id::text, o.created_at::timestamptz,
       li.quantity::int8, li.price::float8,
       (SELECT p.price::float8 FROM product_data p
         WHERE p.shop_id = li.shop_id AND p.product_id = li.product_id
         ORDER BY p.id LIMIT 1)
  FROM orders o` + lines + req.pairScope("o.customer_id", "li.product_id", arg) + req.pairList("o.customer_id", "li.product_id", arg) + `
 ORDER BY o.customer_id COLLATE "C", li.product_id COLLATE "C", o.created_at, o.order_id COLLATE "C", li.id COLLATE "C"`
}

// customerScope renders the conditions on the customer alone, which both
// queries apply as early as they can. The comparisons are in the "C"
// collation, as the pair-scan index is; under any deterministic collation
// equality is byte equality, so = ANY means the same in either.
func (req *ScanRequest) customerScope(customer string, arg func(any) string) string {
	var b strings.Builder
	c := customer + ` COLLATE "C"`
	if len(req.CustomerIDs) > 0 {
		b.WriteString(" AND " + c + " = ANY(" + arg(req.CustomerIDs) + ")")
	}
	if req.Customers.From != "" {
		b.WriteString(" AND " + c + " >= " + arg(req.Customers.From))
	}
	if req.Customers.To != "" {
		b.WriteString(" AND " + c + " < " + arg(req.Customers.To))
	}
	if req.After != nil {
		b.WriteString(" AND " + c + " >= " + arg(req.After.CustomerID))
	}
	return b.String()
}

// distinctCustomers returns the customers of pairs, once each when the
// pairs are sorted by customer (a repeat would only lengthen the list).
func distinctCustomers(pairs []PairKey) []string {
	var out []string
	for _, p := range pairs {
		if len(out) == 0 || out[len(out)-1] != p.CustomerID {
			out = append(out, p.CustomerID)
		}
	}
	return out
}

// pairScope renders the conditions on the pair but the list of pairs,
// which each query applies in its own way.
func (req *ScanRequest) pairScope(customer, product string, arg func(any) string) string {
	if req.After == nil {
		return ""
	}
	return " AND (" + customer + ` COLLATE "C", ` + product + ` COLLATE "C") > (` + arg(req.After.CustomerID) + ", " + arg(req.After.ProductID) + ")"
}

// pairCustomers restricts a customer column to the customers of the list
// of pairs, if there is one.
func (req *ScanRequest) pairCustomers(customer string, arg func(any) string) string {
	if req.Pairs == nil {
		return ""
	}
	return " AND " + customer + ` COLLATE "C" = ANY(` + arg(distinctCustomers(req.Pairs)) + ")"
}

// pairList restricts a pair to the list of pairs, if there is one.
func (req *ScanRequest) pairList(customer, product string, arg func(any) string) string {
	if req.Pairs == nil {
		return ""
	}
	customers, products := pairColumns(req.Pairs)
	return " AND EXISTS (SELECT FROM unnest(" + arg(customers) + ", " + arg(products) + ") AS k(customer_id, product_id)" +
		" WHERE k.customer_id = " + customer + " AND k.product_id = " + product + ")"
}

// pairColumns splits pairs into a column of customers and one of products,
// the form in which Postgres takes them as two arrays.
func pairColumns(pairs []PairKey) (customers, products []string) {
	customers, products = make([]string, len(pairs)), make([]string, len(pairs))
	for i, p := range pairs {
		customers[i], products[i] = p.CustomerID, p.ProductID
	}
	return customers, products
}

// placeholders returns an arg function for scan queries that numbers
// parameters and collects their values into *args. Arrays are typed, as
// their literals are: a function such as unnest cannot infer their type.
func placeholders(args *[]any) func(any) string {
	return func(v any) string {
		*args = append(*args, v)
		p := "$" + strconv.Itoa(len(*args))
		if _, ok := v.([]string); ok {
			p += "::text[]"
		}
		return p
	}
}

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

// acquirePair takes two connections of the pool for one scan, one scan at
// a time (see Store.pairGate). A scan waiting for the gate is cancelled
// with ctx.
func (s *Store) acquirePair(ctx context.Context) (*pgxpool.Conn, *pgxpool.Conn, error) {
	select {
	case s.pairGate <- struct{}{}:
		defer func() { <-s.pairGate }()
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("wait to acquire connections: %w", ctx.Err())
	}
	a, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, translate(fmt.Errorf("acquire connection: %w", err))
	}
	b, err := s.pool.Acquire(ctx)
	if err != nil {
		a.Release()
		return nil, nil, translate(fmt.Errorf("acquire connection: %w", err))
	}
	return a, b, nil
}

// ScanPairs calls fn once for every pair of the request's shop that the
// request selects, in (customer_id, product_id) byte order, with the pair's
// used interactions and order lines at req.AsOf. It holds one pair in memory
// at a time. fn must not
// keep the Pair or its slices after it returns; an error from fn stops the
// scan and is returned as is.
func (s *Store) ScanPairs(ctx context.Context, req ScanRequest, fn func(*Pair) error) error {
	ctx, cancel := context.WithCancel(ctx)
	// Cancelling before the rows are closed stops Postgres rather than
	// draining the rest of a large result when fn fails.
	defer cancel()
	if req.Pairs != nil && len(req.Pairs) == 0 {
		return nil
	}
	evConn, lnConn, err := s.acquirePair(ctx)
	if err != nil {
		return err
	}
	defer evConn.Release()
	defer lnConn.Release()
	var resolve bool
	if err := evConn.QueryRow(ctx, hasAnonymousClientsSQL, req.ShopID).Scan(&resolve); err != nil {
		return translate(fmt.Errorf("look for anonymous clients: %w", err))
	}
	var evArgs []any
	evQuery := eventsSQL(req, resolve, placeholders(&evArgs))
	evRows, err := evConn.Query(ctx, evQuery, append([]any{binaryResults}, evArgs...)...)
	if err != nil {
		return translate(fmt.Errorf("query events: %w", err))
	}
	// Cancel first, so that closing stops Postgres instead of draining the
	// rest of the events on every way out.
	defer func() { cancel(); evRows.Close() }()
	var lnArgs []any
	lnQuery := linesSQL(req, placeholders(&lnArgs))
	lnRows, err := lnConn.Query(ctx, lnQuery, append([]any{binaryResults}, lnArgs...)...)
	if err != nil {
		return translate(fmt.Errorf("query order lines: %w", err))
	}
	defer func() { cancel(); lnRows.Close() }()

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

// decodeEvent decodes a row of eventsSQL.
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

// decodeLine decodes a row of linesSQL.
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
