package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Interaction is one row of user_interactions. Optional columns are nil
// when NULL; CreatedAt is zero when missing. The pointers may point into the
// caller's own messages: the write path reads them and copies nothing.
type Interaction struct {
	ID           string
	ShopID       string
	CustomerID   *string
	ProductID    *string
	EventType    string
	PageType     *string
	DeviceType   *string
	ReferrerType *string
	// ViewDuration is in seconds.
	ViewDuration *float64
	CreatedAt    time.Time
	// ClientID is the anonymous visitor id that identity resolution
	// (FEATURES.md 1.4) links to a customer.
	ClientID *string
	// Metadata is the JSON text of an object kept with the row for later
	// features and read by none (a storefront's variant, quantity, price,
	// search query); nil is NULL.
	Metadata []byte
}

// InteractionSource is a batch of interactions read by index, so that each
// caller can hand over its own representation (a request's messages, a
// slice) without building a copy of the batch first.
type InteractionSource interface {
	Len() int
	// At returns the i-th interaction. A non-nil error says the row cannot
	// be represented at all (a timestamp out of range).
	At(i int) (Interaction, error)
}

// InteractionRows is an InteractionSource over a slice.
type InteractionRows []Interaction

// Len returns the number of rows.
func (r InteractionRows) Len() int { return len(r) }

// At returns the i-th row.
func (r InteractionRows) At(i int) (Interaction, error) { return r[i], nil }

// IngestResult counts what a batch of interactions did.
type IngestResult struct {
	// Inserted counts the rows stored.
	Inserted int64
	// Duplicates counts the rows whose id was already stored for their
	// shop, or came earlier in the same batch for the same shop: they
	// changed nothing.
	Duplicates int64
}

// interactionsStage receives a batch that holds stored ids by COPY before
// one INSERT ... ON CONFLICT moves it into user_interactions: COPY alone
// cannot skip the ids already stored. Ids are unique per shop (the table's
// key is (shop_id, id)), so an id is a duplicate only of the same shop's
// row. It is a temporary table, private to its connection, created once per
// connection and emptied at every commit. Its columns have fixed types
// rather than user_interactions' own, so that it never goes stale when that
// table changes; the INSERT casts each value to its column's type.
const interactionsStage = "featurestore_ingest_stage"

// interactionColumns are user_interactions' columns in COPY order.
var interactionColumns = []string{"id", "shop_id", "customer_id", "product_id", "event_type",
	"page_type", "device_type", "referrer_type", "view_duration", "created_at", "client_id", "metadata"}

var (
	createInteractionsStageSQL = `CREATE TEMP TABLE IF NOT EXISTS ` + interactionsStage + ` (
    id text, shop_id text, customer_id text, product_id text, event_type text,
    page_type text, device_type text, referrer_type text, view_duration float8, created_at timestamptz,
    client_id text, metadata jsonb
) ON COMMIT DELETE ROWS`

	insertInteractionsSQL = fmt.Sprintf(`INSERT INTO user_interactions (%[1]s) SELECT %[1]s FROM %[2]s ON CONFLICT (shop_id, id) DO NOTHING`,
		strings.Join(interactionColumns, ", "), interactionsStage)
)

// WriteInteractions stores src in one transaction: all of it or, when it
// fails, nothing. A row whose id is already stored for its shop, or
// appears earlier in src for the same shop, is a duplicate: it is counted
// and changes nothing; another shop's row with the same id is no concern.
// src must have passed ingest.Validate; WriteInteractions checks nothing
// itself, and a row Postgres refuses fails the batch. Failures to reach
// Postgres wrap ErrUnavailable.
func (s *Store) WriteInteractions(ctx context.Context, src InteractionSource) (IngestResult, error) {
	var res IngestResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = writeInteractions(ctx, tx, src)
		return err
	})
	if err != nil {
		return IngestResult{}, translate(fmt.Errorf("ingest %d interactions: %w", src.Len(), err))
	}
	return res, nil
}

// writeInteractions stores a validated batch within tx. Most batches hold
// only new ids, so it first copies the batch straight into
// user_interactions, as fast as Postgres takes rows, under a savepoint.
// When a shop's id is stored already (a retried call, an event sent again),
// that copy fails on the primary key (shop_id, id); the savepoint undoes it
// (leaving what it wrote, at most one batch, to vacuum) and the batch takes
// the general path, writeStaged, which skips and counts the stored ids. A
// retried batch fails on its first row, so it wastes nearly nothing. A
// batch that repeats an id within itself (for one shop) takes the general
// path at once. The direct copy makes a call of new ids about 1.4 times as
// fast as the general path alone.
func writeInteractions(ctx context.Context, tx pgx.Tx, src InteractionSource) (IngestResult, error) {
	skip := repeats(src)
	if skip == nil {
		n, err := copyDirect(ctx, tx, src)
		if err == nil {
			return IngestResult{Inserted: n}, nil
		}
		if !isUniqueViolation(err) {
			return IngestResult{}, err
		}
	}
	return writeStaged(ctx, tx, src, skip)
}

// copyDirect copies src into user_interactions under a savepoint, which it
// rolls back when the copy fails.
func copyDirect(ctx context.Context, tx pgx.Tx, src InteractionSource) (int64, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("savepoint: %w", err)
	}
	n, err := sp.CopyFrom(ctx, pgx.Identifier{"user_interactions"}, interactionColumns, &interactionCopy{src: src, i: -1})
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return 0, fmt.Errorf("roll back to savepoint: %w", rerr)
		}
		return 0, fmt.Errorf("copy: %w", err)
	}
	if err := sp.Commit(ctx); err != nil {
		return 0, fmt.Errorf("release savepoint: %w", err)
	}
	return n, nil
}

// isUniqueViolation reports whether err is Postgres refusing a row whose
// key is stored already.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// writeStaged copies src, but for the rows skip marks, into the stage table
// and moves the rows whose (shop, id) is not stored yet into
// user_interactions.
func writeStaged(ctx context.Context, tx pgx.Tx, src InteractionSource, skip []bool) (IngestResult, error) {
	if _, err := tx.Exec(ctx, createInteractionsStageSQL); err != nil {
		return IngestResult{}, fmt.Errorf("create stage table: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{interactionsStage}, interactionColumns, &interactionCopy{src: src, skip: skip, i: -1}); err != nil {
		return IngestResult{}, fmt.Errorf("copy into stage: %w", err)
	}
	tag, err := tx.Exec(ctx, insertInteractionsSQL)
	if err != nil {
		return IngestResult{}, fmt.Errorf("insert from stage: %w", err)
	}
	inserted := tag.RowsAffected()
	return IngestResult{Inserted: inserted, Duplicates: int64(src.Len()) - inserted}, nil
}

// repeats marks the rows whose shop and id an earlier row of src already
// has, or returns nil when there are none. Leaving them out of the stage
// makes the first occurrence of a shop's id the one stored, whatever order
// the INSERT reads the stage in.
func repeats(src InteractionSource) []bool {
	n := src.Len()
	if n < 2 {
		return nil
	}
	type key struct{ shopID, id string }
	seen := make(map[key]struct{}, n)
	var skip []bool
	for i := range n {
		r, _ := src.At(i) // src has passed validation
		k := key{r.ShopID, r.ID}
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			continue
		}
		if skip == nil {
			skip = make([]bool, n)
		}
		skip[i] = true
	}
	return skip
}

// interactionCopy feeds a batch to COPY straight from its source, one row
// at a time, reusing one values array.
type interactionCopy struct {
	src    InteractionSource
	skip   []bool
	i      int
	values [12]any
}

func (c *interactionCopy) Next() bool {
	for c.i++; c.i < c.src.Len(); c.i++ {
		if c.skip == nil || !c.skip[c.i] {
			return true
		}
	}
	return false
}

func (c *interactionCopy) Values() ([]any, error) {
	r, err := c.src.At(c.i)
	if err != nil {
		return nil, err
	}
	// Nil pointers are NULLs to pgx. created_at goes in UTC: copied into a
	// timestamp column without a zone, a time keeps its wall clock.
	c.values = [12]any{r.ID, r.ShopID, r.CustomerID, r.ProductID, r.EventType,
		r.PageType, r.DeviceType, r.ReferrerType, r.ViewDuration, r.CreatedAt.UTC(), r.ClientID, nil}
	// A nil slice in an any is not a nil any: NULL must be said so.
	if r.Metadata != nil {
		c.values[11] = r.Metadata
	}
	return c.values[:], nil
}

func (c *interactionCopy) Err() error { return nil }
