package server

import (
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/invalid"
)

// ComputeFeatures runs one computation and streams its progress, then its
// totals. The run stops when the caller cancels the call.
func (s *Service) ComputeFeatures(req *featurestorev1.ComputeFeaturesRequest, stream featurestorev1.FeatureStoreService_ComputeFeaturesServer) error {
	ctx := stream.Context()
	creq, err := computeRequest(req)
	if err != nil {
		return s.status(ctx, err)
	}
	var sendErr error
	sum, err := s.computer.Run(ctx, creq, func(p compute.Progress) {
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
	})
	if err != nil {
		return s.status(ctx, err)
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
