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
	if e, ok := invalid.As(err); ok {
		st := status.New(codes.InvalidArgument, e.Error())
		if withDetails, derr := st.WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: e.Field, Description: e.Reason}},
		}); derr == nil {
			st = withDetails
		}
		return st.Err()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the call's deadline passed before it finished")
	case errors.Is(err, store.ErrShopLocked):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, compute.ErrUnsupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, store.ErrUnavailable):
		logger.WarnContext(ctx, "postgres unavailable", "error", err)
		return status.Error(codes.Unavailable, "the database is unavailable; retry later")
	}
	logger.ErrorContext(ctx, "internal error", "error", err)
	return status.Error(codes.Internal, "internal error")
}
