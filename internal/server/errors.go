package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
)

// toStatus maps an internal error to the gRPC status the caller sees. It is
// the only place that chooses codes. Messages tell the caller what to fix;
// internal details go to the log only.
func toStatus(ctx context.Context, logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if l, ok := invalid.AsList(err); ok {
		return badRequest(l.Error(), l.Errors...)
	}
	if e, ok := invalid.As(err); ok {
		return badRequest(e.Error(), e)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the call's deadline passed before it finished")
	case errors.Is(err, store.ErrShopLocked):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, store.ErrPastAsOf), errors.Is(err, compute.ErrNoInputs):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, store.ErrUnknownShop):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, compute.ErrUnsupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, store.ErrUnavailable):
		logger.WarnContext(ctx, "postgres unavailable", "error", err)
		return status.Error(codes.Unavailable, "the database is unavailable; retry later")
	}
	logger.ErrorContext(ctx, "internal error", "error", err)
	return status.Error(codes.Internal, "internal error")
}

// badRequest is INVALID_ARGUMENT with msg, carrying each field error as a
// google.rpc.BadRequest field violation for clients that read details.
func badRequest(msg string, fields ...*invalid.Error) error {
	st := status.New(codes.InvalidArgument, msg)
	violations := make([]*errdetails.BadRequest_FieldViolation, len(fields))
	for i, e := range fields {
		violations[i] = &errdetails.BadRequest_FieldViolation{Field: e.Field, Description: e.Reason}
	}
	if withDetails, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: violations}); err == nil {
		st = withDetails
	}
	return st.Err()
}
