// Package invalid carries "the caller sent something wrong" errors from the
// packages that validate input to the service edge, which answers them with
// INVALID_ARGUMENT and the field at fault.
package invalid

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
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

// MaxIDLength is the length, in characters, of the id columns
// (varchar(255)).
const MaxIDLength = 255

// CheckText returns why s cannot be stored in a varchar(maxLen) column, or
// "" when it can: it must be valid UTF-8 without NUL characters (Postgres
// text holds neither) and at most maxLen characters long.
func CheckText(s string, maxLen int) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "contains a NUL character, which Postgres text cannot hold"
	}
	// A string of at most maxLen bytes has at most maxLen characters.
	if len(s) > maxLen {
		if n := utf8.RuneCountInString(s); n > maxLen {
			return fmt.Sprintf("is %d characters long; at most %d are allowed", n, maxLen)
		}
	}
	return ""
}

// ID returns an *Error for field unless v is a valid, required id: the same
// rule on every path, so an id that can be stored can also be asked for.
func ID(field, v string) error {
	if v == "" {
		return Field(field, "is required")
	}
	if reason := CheckText(v, MaxIDLength); reason != "" {
		return Field(field, "%s", reason)
	}
	return nil
}

// IDAt is ID for element i of a list, named fmt.Sprintf(format, i) (as
// "product_ids[%d]"): the name is formatted only for a bad value, so that
// checking a valid list costs nothing but the checks.
func IDAt(format string, i int, v string) error {
	if v != "" && CheckText(v, MaxIDLength) == "" {
		return nil
	}
	return ID(fmt.Sprintf(format, i), v)
}
