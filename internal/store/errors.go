package store

import (
	"context"
	"errors"
	"fmt"
	"net"

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
)

// translate maps driver errors to the package's sentinels, keeping the
// original error in the chain for logs. Context errors pass through as they
// are, so callers can tell a cancelled call from a broken database.
func translate(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57": // connection exception, insufficient resources, operator intervention
			if pgErr.Code == "57014" { // query_canceled: a statement timeout or a cancel request
				return err
			}
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connectErr) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
