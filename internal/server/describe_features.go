package server

import (
	"context"

	"google.golang.org/protobuf/proto"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
)

// featuresVersion is features.Version in the API's integer type.
const featuresVersion = int32(features.Version)

var featureTypes = map[features.Type]featurestorev1.FeatureType{
	features.TypeInt:       featurestorev1.FeatureType_FEATURE_TYPE_INT,
	features.TypeFloat:     featurestorev1.FeatureType_FEATURE_TYPE_FLOAT,
	features.TypeTimestamp: featurestorev1.FeatureType_FEATURE_TYPE_TIMESTAMP,
	features.TypeString:    featurestorev1.FeatureType_FEATURE_TYPE_STRING,
}

// describeResponse is built once: the catalogue never changes while the
// process runs.
var describeResponse = func() *featurestorev1.DescribeFeaturesResponse {
	resp := &featurestorev1.DescribeFeaturesResponse{FeaturesVersion: featuresVersion}
	for i, d := range features.Catalog() {
		fd := &featurestorev1.FeatureDescriptor{
			Name: d.Name, Type: featureTypes[d.Type], Nullable: d.Nullable,
			Description: d.Description, DenseIndex: proto.Int32(int32(i)), Categories: d.Categories,
		}
		if d.Min.Valid {
			fd.Min = &d.Min.V
		}
		if d.Max.Valid {
			fd.Max = &d.Max.V
		}
		resp.Features = append(resp.Features, fd)
	}
	return resp
}()

// DescribeFeatures returns the feature catalogue.
func (s *Service) DescribeFeatures(context.Context, *featurestorev1.DescribeFeaturesRequest) (*featurestorev1.DescribeFeaturesResponse, error) {
	return describeResponse, nil
}
