package store

import "errors"

// Translate maps a driver error to the package's sentinels (ErrUnavailable
// when Postgres cannot be reached), keeping the original in the chain. It
// lets packages that write through their own transactions, such as ingest,
// report failures the way the rest of the store does. An error translated
// already is returned as it is, so that layers may each translate theirs.
func Translate(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return translate(err)
}
