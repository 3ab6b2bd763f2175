package server

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/compute"
)

// Computer runs compute jobs; *compute.Engine implements it.
type Computer interface {
	// Run must compute and store the request's features, call progress (if
	// not nil) from its own goroutine while it goes on, stop when ctx ends,
	// and return store.ErrShopLocked when another run holds the shop.
	Run(ctx context.Context, req compute.Request, progress func(compute.Progress)) (compute.Summary, error)
}

var _ Computer = (*compute.Engine)(nil)

// Config says what a Service serves. Each backend is optional: an RPC
// whose backend is not configured is answered UNIMPLEMENTED with the
// reason NOT_CONFIGURED.
type Config struct {
	// Computer runs ComputeFeatures.
	Computer Computer
	// Rows computes StreamFeatures' rows for compute = true.
	Rows RowComputer
	// Reader answers GetFeatures.
	Reader PairReader
	// Exporter answers StreamFeatures of stored rows.
	Exporter Exporter
	// Ingester answers IngestInteractions.
	Ingester Ingester
	// Streams bounds StreamFeatures calls, with compute = true or not; a
	// zero field takes its DefaultStreamLimits value.
	Streams StreamLimits
	// Registerer, if not nil, receives the metrics of the calls Streams
	// admits, refuses and cancels.
	Registerer prometheus.Registerer
}

// Validate names the first bad setting: a backend set to a nil pointer,
// which would fail at its first call rather than answer NOT_CONFIGURED, or
// a stream limit that cannot work.
func (c Config) Validate() error {
	for _, b := range []struct {
		name    string
		backend any
	}{{"Computer", c.Computer}, {"Rows", c.Rows}, {"Reader", c.Reader}, {"Exporter", c.Exporter}, {"Ingester", c.Ingester}} {
		if b.backend == nil {
			continue
		}
		if v := reflect.ValueOf(b.backend); v.Kind() == reflect.Pointer && v.IsNil() {
			return fmt.Errorf("server: Config.%s is a nil %T; leave it unset to serve without it", b.name, b.backend)
		}
	}
	return c.Streams.validate()
}

// Service implements featurestorev1.FeatureStoreServiceServer.
type Service struct {
	featurestorev1.UnimplementedFeatureStoreServiceServer
	cfg Config
	// streams admits StreamFeatures calls within cfg.Streams.
	streams *streamGate
	logger  *slog.Logger
}

var _ featurestorev1.FeatureStoreServiceServer = (*Service)(nil)

// NewService returns the service that serves what cfg configures.
func NewService(cfg Config, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	streams := newStreamGate(cfg.Streams.withDefaults())
	if cfg.Registerer != nil {
		if err := streams.register(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	return &Service{cfg: cfg, streams: streams, logger: logger}, nil
}

func (s *Service) status(ctx context.Context, err error) error { return toStatus(ctx, s.logger, err) }
