package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/featurestore/featurestore/internal/features"
)

// ExportRequest selects the stored rows of one shop that an export reads.
type ExportRequest struct {
	ShopID string
	// After, when not nil, skips every pair up to and including it: the read
	// starts with the first pair that sorts after it in (customer_id,
	// product_id) byte order.
	After *PairKey
	// UpdatedSince, when not zero, keeps the rows whose last_computed_at is
	// at or after it.
	UpdatedSince time.Time
	// CustomerIDs, when not empty, keeps the rows of these customers.
	CustomerIDs []string
}

// exportSQL returns the query of req. arg renders a value into the query
// text as a numbered placeholder.
//
// The key columns are COLLATE "C" in the table, so ORDER BY and the row
// comparison both use byte order, and the pair key index
// (shop_id, customer_id, product_id) serves the order and the start after
// req.After alike: Postgres neither sorts nor skips rows before the start.
func exportSQL(req ExportRequest, arg func(any) string) string {
	var b strings.Builder
	b.WriteString("SELECT " + storedColumns + " FROM interaction_features WHERE shop_id = " + arg(req.ShopID))
	if req.After != nil {
		b.WriteString(" AND (customer_id, product_id) > (" + arg(req.After.CustomerID) + ", " + arg(req.After.ProductID) + ")")
	}
	if !req.UpdatedSince.IsZero() {
		b.WriteString(" AND last_computed_at >= " + arg(req.UpdatedSince))
	}
	if len(req.CustomerIDs) > 0 {
		b.WriteString(" AND customer_id = ANY(" + arg(req.CustomerIDs) + ")")
	}
	b.WriteString(" ORDER BY customer_id, product_id")
	return b.String()
}

// ExportRows calls fn once for every stored row that req selects, in
// (customer_id, product_id) byte order. It runs one query, so the rows are
// one consistent snapshot, and reads it as fn consumes it: a slow fn slows
// Postgres down rather than growing memory. fn must not keep the row after
// it returns: ExportRows reuses it. An error from fn stops the read, cancels
// the query and is returned as is. A read from the start (req.After nil)
// that selects no row returns an *UnknownShopError when the shop has no
// data at all.
func (s *Store) ExportRows(ctx context.Context, req ExportRequest, fn func(*StoredRow) error) error {
	var args []any
	query := exportSQL(req, func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	})
	found := false
	err := s.eachStoredRow(ctx, query, args, func(r *StoredRow) error {
		found = true
		return fn(r)
	})
	if err == nil && !found && req.After == nil {
		return s.CheckShopKnown(ctx, req.ShopID)
	}
	return err
}

// rowDecoder decodes rows selected with storedColumns from Postgres' binary
// wire format into one reused StoredRow. An export reads millions of rows,
// and pgx's generic Scan costs about as much CPU per row as Postgres takes to
// produce it; this decoder allocates only the product id of each row (and
// the customer id once per customer).
type rowDecoder struct {
	row StoredRow
	// features decodes the feature columns, one function per column in
	// catalogue order, each writing to its field of row.Vector.
	features []func([]byte) error
	// finish moves the nullable features into row.Vector after a row.
	finish func()
}

// storedKeyColumns is the number of columns of storedColumns before the
// features.
const storedKeyColumns = 5

func newRowDecoder() *rowDecoder {
	d := &rowDecoder{}
	targets, finish := d.row.Vector.ScanTargets(nil)
	d.finish = finish
	in := newInterner()
	internString := func(b []byte) (string, error) { return in.intern(b), nil }
	for _, t := range targets {
		var f func([]byte) error
		switch p := t.(type) {
		case *int64:
			f = required(p, decodeInt)
		case *float64:
			f = required(p, decodeFloat8)
		case **int64:
			f = nullable(p, decodeInt)
		case **float64:
			f = nullable(p, decodeFloat8)
		case **time.Time:
			f = nullable(p, decodeTimestamptz)
		case **string:
			// The nullable text features are categorical.
			f = nullable(p, internString)
		default:
			panic(fmt.Sprintf("store: no wire decoder for feature target %T", t))
		}
		d.features = append(d.features, f)
	}
	return d
}

// required returns a decoder that stores a NOT NULL column's value in *p.
func required[T any](p *T, decode func([]byte) (T, error)) func([]byte) error {
	return func(b []byte) error {
		if b == nil {
			return errUnexpectedNull
		}
		v, err := decode(b)
		*p = v
		return err
	}
}

// nullable returns a decoder that points *p at the column's value, or sets
// it to nil for NULL. The value lives in one slot per column that every row
// reuses: the Vector's finish function copies it out.
func nullable[T any](p **T, decode func([]byte) (T, error)) func([]byte) error {
	slot := new(T)
	return func(b []byte) error {
		if b == nil {
			*p = nil
			return nil
		}
		v, err := decode(b)
		*slot, *p = v, slot
		return err
	}
}

var errUnexpectedNull = errors.New("unexpected NULL")

// decode decodes one row's raw values into the decoder's row and returns it;
// the next call overwrites it.
func (d *rowDecoder) decode(raw [][]byte) (*StoredRow, error) {
	if len(raw) != storedKeyColumns+len(d.features) {
		return nil, fmt.Errorf("%d columns, want %d", len(raw), storedKeyColumns+len(d.features))
	}
	r := &d.row
	if raw[0] == nil || raw[1] == nil {
		return nil, fmt.Errorf("pair key: %w", errUnexpectedNull)
	}
	// Rows come in customer order, so a customer's id is allocated once.
	if string(raw[0]) != r.CustomerID {
		r.CustomerID = string(raw[0])
	}
	r.ProductID = string(raw[1])
	var err error
	if r.AsOf, err = decodeTimestamptz(raw[2]); err != nil {
		return nil, fmt.Errorf("as_of: %w", err)
	}
	if r.ComputedAt, err = decodeTimestamptz(raw[3]); err != nil {
		return nil, fmt.Errorf("last_computed_at: %w", err)
	}
	version, err := decodeInt(raw[4])
	if err != nil {
		return nil, fmt.Errorf("features_version: %w", err)
	}
	r.Version = int32(version)
	for i, f := range d.features {
		if err := f(raw[storedKeyColumns+i]); err != nil {
			return nil, fmt.Errorf("%s: %w", features.Names()[i], err)
		}
	}
	d.finish()
	return r, nil
}

// decodeInt decodes a binary integer or bigint: the feature columns are one
// or the other.
func decodeInt(b []byte) (int64, error) {
	if len(b) == 4 {
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	}
	return decodeInt8(b)
}
