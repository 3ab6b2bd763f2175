package ingest

import (
	"context"
	"time"

	"github.com/featurestore/featurestore/internal/store"
)

// Result counts what a batch did.
type Result = store.IngestResult

// Store is what a Writer needs of the database; *store.Store implements
// it.
type Store interface {
	// WriteInteractions must store a validated batch in one transaction,
	// all of it or nothing, count the rows whose id is stored already for
	// their shop (or comes earlier in the batch for the same shop) as
	// duplicates that change nothing, leave other shops' rows of the same
	// id alone, and wrap store.ErrUnavailable when Postgres cannot be
	// reached.
	WriteInteractions(ctx context.Context, src Source) (Result, error)
}

var _ Store = (*store.Store)(nil)

// Writer validates batches of interactions and stores them.
type Writer struct {
	store Store
	now   func() time.Time
}

// NewWriter returns a writer into st.
func NewWriter(st Store) *Writer {
	return &Writer{store: st, now: time.Now}
}

// Ingest validates src and, when every row is valid, stores it in one
// transaction; otherwise it returns the *ValidationError and stores
// nothing. A row whose id is already stored for its shop, or appears
// earlier in src for the same shop, is a duplicate: it is counted and
// changes nothing. Another shop's row with the same id is no concern.
// Failures to reach Postgres wrap store.ErrUnavailable.
func (w *Writer) Ingest(ctx context.Context, src Source) (Result, error) {
	if err := Validate(src, w.now()); err != nil {
		return Result{}, err
	}
	return w.store.WriteInteractions(ctx, src)
}
