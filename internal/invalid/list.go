package invalid

import (
	"errors"
	"fmt"
	"strings"
)

// List says that several fields of one request are wrong. It carries the
// first of them, in request order, so that a caller who sent thousands of
// bad rows gets an answer of bounded size that still shows where to look.
type List struct {
	Errors []*Error
	// More counts the errors found beyond Errors.
	More int
}

func (l *List) Error() string {
	parts := make([]string, 0, len(l.Errors)+1)
	for _, e := range l.Errors {
		parts = append(parts, e.Error())
	}
	if l.More > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", l.More))
	}
	return strings.Join(parts, "; ")
}

// Unwrap lets errors.As find the listed *Error values.
func (l *List) Unwrap() []error {
	errs := make([]error, len(l.Errors))
	for i, e := range l.Errors {
		errs[i] = e
	}
	return errs
}

// AsList returns the *List in err's chain, if any.
func AsList(err error) (*List, bool) {
	var l *List
	ok := errors.As(err, &l)
	return l, ok
}
