package auth

import (
	"errors"
	"fmt"
)

// Reason says why a caller was refused, in a form clients can switch on:
// the server's error mapping makes it the reason of the
// google.rpc.ErrorInfo of the refusal's status. The reasons are part of
// the API: README.md lists them with the other error reasons.
type Reason string

// The reasons of refusals. The first four mean that the caller has no
// valid key (UNAUTHENTICATED, HTTP 401); the others that its key does not
// cover the call (PERMISSION_DENIED, HTTP 403).
const (
	ReasonKeyMissing    Reason = "API_KEY_MISSING"
	ReasonKeyInvalid    Reason = "API_KEY_INVALID"
	ReasonKeyRevoked    Reason = "API_KEY_REVOKED"
	ReasonKeyExpired    Reason = "API_KEY_EXPIRED"
	ReasonScopeMissing  Reason = "API_KEY_SCOPE_MISSING"
	ReasonShopDenied    Reason = "API_KEY_SHOP_DENIED"
	ReasonMethodUnknown Reason = "METHOD_NOT_AUTHORIZED"
)

// Error is a refused caller: why, in words the caller can act on, and
// what was missing (the scope, the shop) for clients that read it.
type Error struct {
	Reason   Reason
	Message  string
	Metadata map[string]string
}

func (e *Error) Error() string { return e.Message }

// Unauthenticated reports whether the caller has no valid key, as opposed
// to a valid key that does not cover what it asked.
func (e *Error) Unauthenticated() bool {
	switch e.Reason {
	case ReasonKeyMissing, ReasonKeyInvalid, ReasonKeyRevoked, ReasonKeyExpired:
		return true
	}
	return false
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func refuse(reason Reason, meta map[string]string, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), Metadata: meta}
}

var (
	errKeyMissing = refuse(ReasonKeyMissing, nil, "this call needs an API key: send it in the metadata as authorization: Bearer fsk_... (featurestore keys create makes one)")
	errMalformed  = refuse(ReasonKeyInvalid, nil, "the API key is malformed: a key is fsk_ followed by its id, an underscore and its secret, as featurestore keys create printed it")
	errUnknown    = refuse(ReasonKeyInvalid, nil, "the API key is not valid: no key has this secret")
	errRevoked    = refuse(ReasonKeyRevoked, nil, "the API key was revoked")
)
