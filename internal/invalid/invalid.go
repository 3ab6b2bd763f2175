// Package invalid carries "the caller sent something wrong" errors from the
// packages that validate input to the service edge, which answers them with
// INVALID_ARGUMENT and the field at fault.
package invalid

import (
	"errors"
	"fmt"
)

// Error says which request field is wrong and why.
type Error struct {
	// Field is the field's path in the request, e.g. "as_of" or
	// "interactions[3].created_at".
	Field  string
	Reason string
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

// Field returns an *Error for field with a formatted reason.
func Field(field, format string, args ...any) error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
