package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrUnavailable means Postgres could not be reached or dropped the
	// connection; the same call may succeed later.
	ErrUnavailable = errors.New("postgres unavailable")
	// ErrShopLocked means another compute run holds the shop's lock.
	ErrShopLocked = errors.New("a compute run for this shop is already in progress")
	// ErrBadURL means the database URL could not be parsed.
	ErrBadURL = errors.New("malformed database url")
	// ErrPastAsOf means a run's as_of is older than the as_of of the shop's
	// last successful run; errors that wrap it are *PastAsOfError.
	ErrPastAsOf = errors.New("as_of is older than the shop's last successful run")
	// ErrUnknownShop means a shop has no stored features, no interactions
	// and no orders: most likely its id is mistyped. Errors that wrap it are
	// *UnknownShopError.
	ErrUnknownShop = errors.New("unknown shop")
)

// UnknownShopError names a shop that has no data at all.
type UnknownShopError struct{ ShopID string }

func (e *UnknownShopError) Error() string {
	return fmt.Sprintf("shop %q is unknown: it has no stored features, interactions or orders", e.ShopID)
}

// Is makes errors.Is(err, ErrUnknownShop) hold.
func (e *UnknownShopError) Is(target error) bool { return target == ErrUnknownShop }

// PastAsOfError refuses a run that would move a shop's stored features back
// in time: a FULL run at a past as_of replaces every row with the row of
// that instant, and removes the pairs that did not exist yet (at
// 1970-01-02, all of them), which is seldom what was meant. It names both
// instants.
type PastAsOfError struct {
	ShopID   string
	AsOf     time.Time // the refused run's
	LastAsOf time.Time // the shop's last successful run's
}

func (e *PastAsOfError) Error() string {
	return fmt.Sprintf("as_of %s is older than the as_of %s of shop %q's last successful run: the run would move the shop's stored features back in time; set allow_past_as_of to do that on purpose, or stream features at a past instant with StreamFeatures and compute = true",
		e.AsOf.UTC().Format(time.RFC3339Nano), e.LastAsOf.UTC().Format(time.RFC3339Nano), e.ShopID)
}

// Is makes errors.Is(err, ErrPastAsOf) hold.
func (e *PastAsOfError) Is(target error) bool { return target == ErrPastAsOf }

// translate maps driver errors to the package's sentinels, keeping the
// original error in the chain for logs. Context errors pass through as they
// are, so callers can tell a cancelled call from a broken database, and so
// does an error translated already, so that layers may each translate
// theirs. Only this package translates: nothing above it sees a pgx error.
func translate(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrUnavailable) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if retryable(pgErr.Code) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connectErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// retryable reports whether a Postgres error code says that the same call
// may succeed later: the server, not the request, is in the way.
func retryable(code string) bool {
	switch code {
	case "25006", // read_only_sql_transaction: a replica, e.g. during a failover
		"40001", // serialization_failure
		"40P01", // deadlock_detected
		"57014": // query_canceled by a statement timeout (a caller's cancel is a context error)
		return true
	}
	switch code[:2] {
	case "08", "53", "57": // connection exception, insufficient resources, operator intervention
		return true
	}
	return false
}
