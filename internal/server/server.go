package server

import (
	"context"
	"log/slog"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
)

// Computer runs compute jobs; *compute.Engine implements it.
type Computer interface {
	Run(ctx context.Context, req compute.Request, progress func(compute.Progress)) (compute.Summary, error)
}

var _ Computer = (*compute.Engine)(nil)

// Service implements featurestorev1.FeatureStoreServiceServer.
type Service struct {
	featurestorev1.UnimplementedFeatureStoreServiceServer
	computer Computer
	ingester Ingester      // set by WithIngester; nil answers UNIMPLEMENTED
	reader   FeatureReader // set by WithReader; nil answers UNIMPLEMENTED
	exporter Exporter      // set by WithExporter; nil answers UNIMPLEMENTED
	rows     RowComputer   // the computer, when it is one; nil answers compute = true with UNIMPLEMENTED
	streams  *streamGate   // StreamFeatures' limits; WithStreamLimits replaces the defaults
	logger   *slog.Logger
}

var _ featurestorev1.FeatureStoreServiceServer = (*Service)(nil)

// NewService returns the service backed by computer, which also computes
// StreamFeatures' rows for compute = true when it can (as *compute.Engine
// can), with DefaultStreamLimits.
func NewService(computer Computer, logger *slog.Logger) *Service {
	rows, _ := computer.(RowComputer)
	return &Service{computer: computer, rows: rows, streams: newStreamGate(DefaultStreamLimits()), logger: logger}
}

// WithRowComputer makes StreamFeatures compute its rows for compute = true
// with rows rather than with the computer, e.g. on connections set apart
// for bulk reads, and returns the service.
func (s *Service) WithRowComputer(rows RowComputer) *Service {
	s.rows = rows
	return s
}

func (s *Service) status(ctx context.Context, err error) error { return toStatus(ctx, s.logger, err) }
