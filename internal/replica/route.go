package replica

import (
	"context"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/store"
)

// pick returns the replica's side while the monitor says it may be read,
// the primary's otherwise.
func pick[T any](m *Monitor, primary, replica T) T {
	if m.Fresh() {
		return replica
	}
	return primary
}

// Source is the store behind online reads (GetFeatures, and the cache's
// Source): ReadPairs reads the replica while it is within MaxLag;
// everything else, the cache fill (CustomersRows) and the record of cache
// marks among it, is the primary's (the embedded Store).
//
// Fills read the primary because a fill marks a customer's hash complete:
// from a replica that has not replayed a run yet, it would mark complete a
// hash that lacks pairs the primary has, and the run's write-through,
// made before the fill began, went to no hash. Reading only from a replica
// whose replay has passed the primary's position at the shop's last run
// would keep most fills off the primary, at the cost of recording that
// position per shop; a fill happens once per customer and cache TTL, a
// small share of reads, so the primary serves them.
type Source struct {
	*store.Store
	replica *store.Store
	monitor *Monitor
}

// NewSource returns the online read path's store over primary and replica.
func NewSource(primary, replica *store.Store, monitor *Monitor) *Source {
	return &Source{Store: primary, replica: replica, monitor: monitor}
}

// ReadPairs is store.Store's ReadPairs, on the replica while it may be read.
func (s *Source) ReadPairs(ctx context.Context, shopID string, lookups []store.Lookup) ([][]store.Record, error) {
	return pick(s.monitor, s.Store, s.replica).ReadPairs(ctx, shopID, lookups)
}

// exporter is server.Exporter.
type exporter interface {
	ExportRows(ctx context.Context, req store.ExportRequest, fn func(*store.StoredRow) error) error
}

// Exports reads stored rows in bulk (StreamFeatures, export) from the
// replica while it may be read, else from the primary. Each call reads one
// database, so its rows are one snapshot; a resumed export may continue on
// the other.
type Exports struct {
	primary, replica exporter
	monitor          *Monitor
}

// NewExports returns the bulk reader over primary's and replica's.
func NewExports(primary, replica exporter, monitor *Monitor) *Exports {
	return &Exports{primary: primary, replica: replica, monitor: monitor}
}

// ExportRows is the chosen database's ExportRows.
func (e *Exports) ExportRows(ctx context.Context, req store.ExportRequest, fn func(*store.StoredRow) error) error {
	return pick(e.monitor, e.primary, e.replica).ExportRows(ctx, req, fn)
}

// rowComputer is server.RowComputer.
type rowComputer interface {
	ComputeRows(ctx context.Context, req compute.RowsRequest, fn func(*store.StoredRow) error) error
}

// Rows computes StreamFeatures' rows for compute = true from the events
// on the replica while it may be read, else on the primary.
type Rows struct {
	primary, replica rowComputer
	monitor          *Monitor
}

// NewRows returns the row computer over primary's and replica's engines.
func NewRows(primary, replica rowComputer, monitor *Monitor) *Rows {
	return &Rows{primary: primary, replica: replica, monitor: monitor}
}

// ComputeRows is the chosen engine's ComputeRows.
func (r *Rows) ComputeRows(ctx context.Context, req compute.RowsRequest, fn func(*store.StoredRow) error) error {
	return pick(r.monitor, r.primary, r.replica).ComputeRows(ctx, req, fn)
}
