package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/invalid"
)

// ComputeFeatures runs one computation and streams its progress, then its
// totals. The run stops when the caller cancels the call, or when its
// progress cannot be sent: a stream that takes no messages has nobody at
// the other end, and the run's error is then the send's.
func (s *Service) ComputeFeatures(req *featurestorev1.ComputeFeaturesRequest, stream featurestorev1.FeatureStoreService_ComputeFeaturesServer) error {
	callCtx := stream.Context()
	if s.cfg.Computer == nil {
		return s.status(callCtx, notConfigured("ComputeFeatures"))
	}
	creq, err := computeRequest(req)
	if err != nil {
		return s.status(callCtx, err)
	}
	ctx, cancel := context.WithCancel(callCtx)
	defer cancel()
	// progress is called from the run's goroutine only, one call at a
	// time, and the run has returned before sendErr is read below.
	var sendErr error
	sum, err := s.cfg.Computer.Run(ctx, creq, func(p compute.Progress) {
		if sendErr != nil {
			return
		}
		sendErr = stream.Send(&featurestorev1.ComputeFeaturesResponse{Event: &featurestorev1.ComputeFeaturesResponse_Progress{
			Progress: &featurestorev1.ComputeProgress{
				EventsRead: p.EventsRead, OrderLinesRead: p.OrderLinesRead,
				PairsComputed: p.PairsComputed, PairsWritten: p.PairsWritten,
				Elapsed: durationpb.New(p.Elapsed),
			},
		}})
		if sendErr != nil {
			cancel()
		}
	})
	if sendErr != nil && callCtx.Err() == nil {
		return s.status(callCtx, fmt.Errorf("send progress: %w", sendErr))
	}
	if err != nil {
		return s.status(callCtx, err)
	}
	return stream.Send(&featurestorev1.ComputeFeaturesResponse{Event: &featurestorev1.ComputeFeaturesResponse_Summary{
		Summary: &featurestorev1.ComputeSummary{
			ShopId: sum.ShopID, Mode: modeToProto(sum.Mode), AsOf: timestamppb.New(sum.AsOf),
			FeaturesVersion: featuresVersion, EventsRead: sum.EventsRead, OrderLinesRead: sum.OrderLinesRead,
			PairsWritten: sum.PairsWritten, PairsDeleted: sum.PairsDeleted,
			StartedAt: timestamppb.New(sum.StartedAt), Duration: durationpb.New(sum.Duration),
		},
	}})
}

func computeRequest(req *featurestorev1.ComputeFeaturesRequest) (compute.Request, error) {
	out := compute.Request{ShopID: req.GetShopId(), CustomerIDs: req.GetCustomerIds(), AllowPastAsOf: req.GetAllowPastAsOf()}
	if ts := req.GetAsOf(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return out, invalid.Field("as_of", "is not a valid timestamp: %v", err)
		}
		out.AsOf = ts.AsTime()
	}
	switch req.GetMode() {
	case featurestorev1.ComputeMode_COMPUTE_MODE_UNSPECIFIED, featurestorev1.ComputeMode_COMPUTE_MODE_FULL:
		out.Mode = compute.Full
	case featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL:
		out.Mode = compute.Incremental
	default:
		return out, invalid.Field("mode", "unknown mode %d; use COMPUTE_MODE_FULL or COMPUTE_MODE_INCREMENTAL", int32(req.GetMode()))
	}
	return out, nil
}

func modeToProto(m compute.Mode) featurestorev1.ComputeMode {
	if m == compute.Incremental {
		return featurestorev1.ComputeMode_COMPUTE_MODE_INCREMENTAL
	}
	return featurestorev1.ComputeMode_COMPUTE_MODE_FULL
}
