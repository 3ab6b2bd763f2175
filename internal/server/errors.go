package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
)

// ErrorDomain is the domain of the google.rpc.ErrorInfo every error status
// of the service carries (but CANCELLED and DEADLINE_EXCEEDED, which are
// the caller's own doing).
const ErrorDomain = "featurestore.v1"

// The ErrorInfo reasons: stable names a client can switch on where a code
// alone does not say what to do. They are part of the API; README.md lists
// them with their codes, and with the reasons of refused API keys
// (auth.Reason), which toStatus carries in the same domain.
const (
	// ReasonBadRequest (INVALID_ARGUMENT): a field of the request is wrong,
	// and google.rpc.BadRequest names it (a string that is not UTF-8
	// included), or the request's bytes are not a valid protobuf message
	// of its type. Fix the request.
	ReasonBadRequest = "BAD_REQUEST"
	// ReasonResumeTokenInvalid (INVALID_ARGUMENT): the resume_token is not
	// one this service issued for this request's shop and filters. Restart
	// without it, or resume with the request it came from.
	ReasonResumeTokenInvalid = "RESUME_TOKEN_INVALID"
	// ReasonShopLocked (ABORTED): another compute run holds the shop.
	// Retry after it ends.
	ReasonShopLocked = "SHOP_LOCKED"
	// ReasonStreamsExhausted (RESOURCE_EXHAUSTED): the server serves as
	// many StreamFeatures calls as it may at once (--max-streams, in the
	// metadata as max_streams). Retry with backoff, or ask another
	// replica.
	ReasonStreamsExhausted = "STREAMS_EXHAUSTED"
	// ReasonStreamStalled (ABORTED): the server cancelled a StreamFeatures
	// call whose client read nothing for --stream-stall-timeout (in the
	// metadata as stall_timeout). Resume with the last resume_token
	// received.
	ReasonStreamStalled = "STREAM_STALLED"
	// ReasonPastAsOf (FAILED_PRECONDITION): the run's as_of is older than
	// the as_of of the shop's last successful run, which would move the
	// shop's stored features back in time. Set allow_past_as_of if that is
	// meant; StreamFeatures with compute = true reads a past instant
	// without storing it.
	ReasonPastAsOf = "PAST_AS_OF"
	// ReasonNoInputs (FAILED_PRECONDITION): the run names a shop with no
	// interactions and no orders, so there is nothing to compute. Check
	// shop_id, or send the shop's data first.
	ReasonNoInputs = "NO_INPUTS"
	// ReasonShopUnknown (NOT_FOUND): the shop has no stored features, no
	// interactions and no orders; most likely shop_id is mistyped. Check
	// it.
	ReasonShopUnknown = "SHOP_UNKNOWN"
	// ReasonPoolTooSmall (FAILED_PRECONDITION): the server's database pool
	// cannot give a compute run the connections it needs. Retrying does not
	// help until an operator raises pool_max_conns.
	ReasonPoolTooSmall = "POOL_TOO_SMALL"
	// ReasonNotConfigured (UNIMPLEMENTED): this server was started without
	// what the call needs (for example no cache or exporter). Ask another
	// server, or its operator.
	ReasonNotConfigured = "NOT_CONFIGURED"
	// ReasonDatabaseUnavailable (UNAVAILABLE): Postgres could not be
	// reached. Retry with backoff.
	ReasonDatabaseUnavailable = "DATABASE_UNAVAILABLE"
	// ReasonInternal (INTERNAL): a defect; the server logged the details.
	ReasonInternal = "INTERNAL"
)

// ErrNotConfigured means a call needs a backend the server was not
// configured with (see Config).
var ErrNotConfigured = errors.New("not configured on this server")

// notConfigured is ErrNotConfigured for what, which names the call.
func notConfigured(what string) error { return fmt.Errorf("%s: %w", what, ErrNotConfigured) }

// reasonError gives err an ErrorInfo reason more precise than its code's
// default, such as RESUME_TOKEN_INVALID for an invalid field.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

// withReason returns err with the ErrorInfo reason toStatus attaches.
func withReason(reason string, err error) error { return &reasonError{reason: reason, err: err} }

// toStatus maps an internal error to the gRPC status the caller sees. It is
// the only place that chooses codes and reasons. Messages tell the caller
// what to fix; internal details go to the log only.
func toStatus(ctx context.Context, logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if e, ok := auth.AsError(err); ok {
		return refusal(e)
	}
	var reason string
	if re := (*reasonError)(nil); errors.As(err, &re) {
		reason = re.reason
	}
	if l, ok := invalid.AsList(err); ok {
		return badRequest(cmp.Or(reason, ReasonBadRequest), l.Error(), l.Errors...)
	}
	if e, ok := invalid.As(err); ok {
		return badRequest(cmp.Or(reason, ReasonBadRequest), e.Error(), e)
	}
	if e := (*malformedRequestError)(nil); errors.As(err, &e) {
		return statusWithReason(codes.InvalidArgument, e.Error(), ReasonBadRequest)
	}
	if e := (*tooManyStreamsError)(nil); errors.As(err, &e) {
		return statusWithInfo(codes.ResourceExhausted, e.Error(), ReasonStreamsExhausted, "max_streams", strconv.Itoa(e.limit))
	}
	if e := (*streamStalledError)(nil); errors.As(err, &e) {
		return statusWithInfo(codes.Aborted, e.Error(), ReasonStreamStalled, "stall_timeout", e.timeout.String())
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the call's deadline passed before it finished")
	case errors.Is(err, store.ErrShopLocked):
		return statusWithReason(codes.Aborted, err.Error(), ReasonShopLocked)
	case errors.Is(err, store.ErrPastAsOf):
		return statusWithReason(codes.FailedPrecondition, err.Error(), ReasonPastAsOf)
	case errors.Is(err, compute.ErrNoInputs):
		return statusWithReason(codes.FailedPrecondition, err.Error(), ReasonNoInputs)
	case errors.Is(err, store.ErrUnknownShop):
		return statusWithReason(codes.NotFound, err.Error(), ReasonShopUnknown)
	case errors.Is(err, compute.ErrPoolTooSmall):
		// The request is fine; the server is not set up to run it, so a
		// retry fails the same way until an operator acts. That is
		// FAILED_PRECONDITION, not RESOURCE_EXHAUSTED, which clients retry.
		logger.WarnContext(ctx, "compute run refused", "error", err)
		return statusWithReason(codes.FailedPrecondition, err.Error(), ReasonPoolTooSmall)
	case errors.Is(err, ErrNotConfigured):
		return statusWithReason(codes.Unimplemented, err.Error(), ReasonNotConfigured)
	case errors.Is(err, store.ErrUnavailable):
		logger.WarnContext(ctx, "postgres unavailable", "error", err)
		return statusWithReason(codes.Unavailable, "the database is unavailable; retry later", ReasonDatabaseUnavailable)
	}
	logger.ErrorContext(ctx, "internal error", "error", err)
	return internalError()
}

// internalError is the answer to a defect, whose details only the log has.
func internalError() error {
	return statusWithReason(codes.Internal, "internal error", ReasonInternal)
}

// refusal is the status of a caller that auth refused: UNAUTHENTICATED
// without a valid key, PERMISSION_DENIED for a key that does not cover the
// call. Its ErrorInfo carries the refusal's reason and what was missing
// (the scope, the shop) as metadata.
func refusal(e *auth.Error) error {
	code := codes.PermissionDenied
	if e.Unauthenticated() {
		code = codes.Unauthenticated
	}
	info := errorInfo(string(e.Reason))
	info.Metadata = e.Metadata
	return withDetails(status.New(code, e.Message), info).Err()
}

// statusWithReason is a status of code with msg, carrying a
// google.rpc.ErrorInfo of reason in ErrorDomain.
func statusWithReason(code codes.Code, msg, reason string) error {
	return withDetails(status.New(code, msg), errorInfo(reason)).Err()
}

// statusWithInfo is statusWithReason whose ErrorInfo also carries the
// metadata key = value, such as the limit that was reached.
func statusWithInfo(code codes.Code, msg, reason, key, value string) error {
	info := errorInfo(reason)
	info.Metadata = map[string]string{key: value}
	return withDetails(status.New(code, msg), info).Err()
}

// badRequest is INVALID_ARGUMENT with msg and reason, carrying each field
// error as a google.rpc.BadRequest field violation for clients that read
// details.
func badRequest(reason, msg string, fields ...*invalid.Error) error {
	violations := make([]*errdetails.BadRequest_FieldViolation, len(fields))
	for i, e := range fields {
		violations[i] = &errdetails.BadRequest_FieldViolation{Field: e.Field, Description: e.Reason}
	}
	return withDetails(status.New(codes.InvalidArgument, msg), errorInfo(reason),
		&errdetails.BadRequest{FieldViolations: violations}).Err()
}

func errorInfo(reason string) *errdetails.ErrorInfo {
	return &errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain}
}

// withDetails returns st with details, or st as it is if they cannot be
// attached (they always can: st is an error and they are well-formed
// messages).
func withDetails(st *status.Status, details ...protoadapt.MessageV1) *status.Status {
	if d, err := st.WithDetails(details...); err == nil {
		return d
	}
	return st
}
