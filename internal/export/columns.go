package export

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
)

// Column is one column of an export file, in every format.
type Column struct {
	Name     string
	Type     features.Type
	Nullable bool
	// feature is the column's field in the Features message; nil for the
	// columns of the record itself.
	feature protoreflect.FieldDescriptor
}

// columns is the one list of export columns: the pair, every feature in
// catalogue order, then the pair's as_of, computed_at and
// features_version, named as in the API.
var columns = func() []Column {
	cols := []Column{
		{Name: "customer_id", Type: features.TypeString},
		{Name: "product_id", Type: features.TypeString},
	}
	fields := (&featurestorev1.Features{}).ProtoReflect().Descriptor().Fields()
	for _, d := range features.Catalog() {
		fd := fields.ByName(protoreflect.Name(d.Name))
		if fd == nil {
			panic(fmt.Sprintf("export: the Features message has no field for feature %s", d.Name))
		}
		cols = append(cols, Column{Name: d.Name, Type: d.Type, Nullable: d.Nullable, feature: fd})
	}
	return append(cols,
		Column{Name: "as_of", Type: features.TypeTimestamp},
		Column{Name: "computed_at", Type: features.TypeTimestamp},
		Column{Name: "features_version", Type: features.TypeInt},
	)
}()

// Columns returns the columns of every export format, in file order.
func Columns() []Column {
	return append([]Column(nil), columns...)
}

// value is one cell of a row: NULL, or the field that the column's type
// uses. Rows are built into a reused slice of values, so that encoding a
// record allocates nothing per cell.
type value struct {
	null bool
	i    int64
	f    float64
	t    time.Time
	s    string
}

// appendRow appends rec's cells to dst in column order.
func appendRow(dst []value, rec *featurestorev1.FeatureRecord) []value {
	dst = append(dst, value{s: rec.GetCustomerId()}, value{s: rec.GetProductId()})
	fm := rec.GetFeatures().ProtoReflect()
	for _, c := range columns[2 : len(columns)-3] {
		fd := c.feature
		// An absent feature is NULL where the feature is nullable, and 0
		// elsewhere: servers before every feature had presence left out
		// the zeros.
		if c.Nullable && !fm.Has(fd) {
			dst = append(dst, value{null: true})
			continue
		}
		v := fm.Get(fd)
		switch c.Type {
		case features.TypeInt:
			dst = append(dst, value{i: v.Int()})
		case features.TypeFloat:
			dst = append(dst, value{f: v.Float()})
		case features.TypeString:
			dst = append(dst, value{s: v.String()})
		case features.TypeTimestamp:
			dst = append(dst, value{t: v.Message().Interface().(*timestamppb.Timestamp).AsTime()})
		}
	}
	return append(dst,
		timeValue(rec.GetAsOf()),
		timeValue(rec.GetComputedAt()),
		value{i: int64(rec.GetFeaturesVersion())})
}

func timeValue(ts *timestamppb.Timestamp) value {
	if ts == nil {
		return value{null: true}
	}
	return value{t: ts.AsTime()}
}
