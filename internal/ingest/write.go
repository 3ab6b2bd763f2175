package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
)

// stageTable receives a batch that holds stored ids by COPY before one
// INSERT ... ON CONFLICT moves it into user_interactions: COPY alone cannot
// skip the ids already stored. Ids are unique per shop (the table's key is
// (shop_id, id)), so an id is a duplicate only of the same shop's row. It is a temporary table, private to its
// connection, created once per connection and emptied at every commit. Its
// columns have fixed types rather than user_interactions' own, so that it
// never goes stale when that table changes; the INSERT casts each value to
// its column's type.
const stageTable = "featurestore_ingest_stage"

// columns are user_interactions' columns in COPY order.
var columns = []string{"id", "shop_id", "customer_id", "product_id", "event_type",
	"page_type", "device_type", "referrer_type", "view_duration", "created_at"}

var (
	createStageSQL = `CREATE TEMP TABLE IF NOT EXISTS ` + stageTable + ` (
    id text, shop_id text, customer_id text, product_id text, event_type text,
    page_type text, device_type text, referrer_type text, view_duration float8, created_at timestamptz
) ON COMMIT DELETE ROWS`

	insertSQL = fmt.Sprintf(`INSERT INTO user_interactions (%[1]s) SELECT %[1]s FROM %[2]s ON CONFLICT (shop_id, id) DO NOTHING`,
		strings.Join(columns, ", "), stageTable)
)

// Result counts what a batch did.
type Result struct {
	// Inserted counts the rows stored.
	Inserted int64
	// Duplicates counts the rows whose id was already stored for their
	// shop, or came earlier in the same batch for the same shop: they
	// changed nothing.
	Duplicates int64
}

// Writer stores batches of interactions in Postgres.
type Writer struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewWriter returns a writer into the database of pool.
func NewWriter(pool *pgxpool.Pool) *Writer {
	return &Writer{pool: pool, now: time.Now}
}

// Ingest validates src and, when every row is valid, stores it in one
// transaction; otherwise it returns the *ValidationError and stores
// nothing. A row whose id is already stored for its shop, or appears
// earlier in src for the same shop, is a duplicate: it is counted and
// changes nothing. Another shop's row with the same id is no concern. Failures to reach
// Postgres wrap store.ErrUnavailable.
func (w *Writer) Ingest(ctx context.Context, src Source) (Result, error) {
	if err := Validate(src, w.now()); err != nil {
		return Result{}, err
	}
	var res Result
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		var err error
		res, err = write(ctx, tx, src)
		return err
	})
	if err != nil {
		return Result{}, store.Translate(fmt.Errorf("ingest %d interactions: %w", src.Len(), err))
	}
	return res, nil
}

// IngestTx is Ingest inside the caller's transaction, for a caller that
// stores more alongside the batch and wants all of it or nothing. The batch
// is stored only if the caller commits.
func (w *Writer) IngestTx(ctx context.Context, tx pgx.Tx, src Source) (Result, error) {
	if err := Validate(src, w.now()); err != nil {
		return Result{}, err
	}
	res, err := write(ctx, tx, src)
	if err != nil {
		return Result{}, store.Translate(fmt.Errorf("ingest %d interactions: %w", src.Len(), err))
	}
	return res, nil
}

// write stores a validated batch within tx. Most batches hold only new
// ids, so it first copies the batch straight into user_interactions, as
// fast as Postgres takes rows, under a savepoint. When a shop's id is
// stored already (a retried call, an event sent again), that copy fails on
// the primary key (shop_id, id); the savepoint undoes it (leaving what it wrote, at most one
// batch, to vacuum) and the batch takes the general path, writeStaged,
// which skips and counts the stored ids. A retried batch fails on its
// first row, so it wastes nearly nothing. A batch that repeats an id
// within itself (for one shop) takes the general path at once. The direct copy makes a
// call of new ids about 1.4 times as fast as the general path alone.
func write(ctx context.Context, tx pgx.Tx, src Source) (Result, error) {
	skip := repeats(src)
	if skip == nil {
		n, err := copyDirect(ctx, tx, src)
		if err == nil {
			return Result{Inserted: n}, nil
		}
		if !isUniqueViolation(err) {
			return Result{}, err
		}
	}
	return writeStaged(ctx, tx, src, skip)
}

// copyDirect copies src into user_interactions under a savepoint, which it
// rolls back when the copy fails.
func copyDirect(ctx context.Context, tx pgx.Tx, src Source) (int64, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("savepoint: %w", err)
	}
	n, err := sp.CopyFrom(ctx, pgx.Identifier{"user_interactions"}, columns, &copySource{src: src, i: -1})
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
func writeStaged(ctx context.Context, tx pgx.Tx, src Source, skip []bool) (Result, error) {
	if _, err := tx.Exec(ctx, createStageSQL); err != nil {
		return Result{}, fmt.Errorf("create stage table: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stageTable}, columns, &copySource{src: src, skip: skip, i: -1}); err != nil {
		return Result{}, fmt.Errorf("copy into stage: %w", err)
	}
	tag, err := tx.Exec(ctx, insertSQL)
	if err != nil {
		return Result{}, fmt.Errorf("insert from stage: %w", err)
	}
	inserted := tag.RowsAffected()
	return Result{Inserted: inserted, Duplicates: int64(src.Len()) - inserted}, nil
}

// repeats marks the rows whose shop and id an earlier row of src already
// has, or returns nil when there are none. Leaving them out of the stage
// makes the first occurrence of a shop's id the one stored, whatever order
// the INSERT reads the stage in.
func repeats(src Source) []bool {
	n := src.Len()
	if n < 2 {
		return nil
	}
	type key struct{ shopID, id string }
	seen := make(map[key]struct{}, n)
	var skip []bool
	for i := range n {
		r, _ := src.At(i) // src has passed Validate
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

// copySource feeds a batch to COPY straight from its Source, one row at a
// time, reusing one values array.
type copySource struct {
	src    Source
	skip   []bool
	i      int
	values [10]any
}

func (c *copySource) Next() bool {
	for c.i++; c.i < c.src.Len(); c.i++ {
		if c.skip == nil || !c.skip[c.i] {
			return true
		}
	}
	return false
}

func (c *copySource) Values() ([]any, error) {
	r, err := c.src.At(c.i)
	if err != nil {
		return nil, err
	}
	// Nil pointers are NULLs to pgx. created_at goes in UTC: copied into a
	// timestamp column without a zone, a time keeps its wall clock.
	c.values = [10]any{r.ID, r.ShopID, r.CustomerID, r.ProductID, r.EventType,
		r.PageType, r.DeviceType, r.ReferrerType, r.ViewDuration, r.CreatedAt.UTC()}
	return c.values[:], nil
}

func (c *copySource) Err() error { return nil }
