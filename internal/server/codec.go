package server

import (
	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
)

// RecordToProto converts a stored row to its API form.
func RecordToProto(r *store.StoredRow) *featurestorev1.FeatureRecord { return protoconv.Record(r) }
