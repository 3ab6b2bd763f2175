package features

import (
	"math"
	"slices"
	"time"
)

// AppendDense appends the vector's dense numeric form to dst, one float per
// feature in catalogue order: NULL as NaN, timestamps as Unix seconds, and
// categorical values as their index in the feature's Categories (a value
// outside the list as the index of its last entry, "other").
func (v *Vector) AppendDense(dst []float64) []float64 {
	for i, val := range v.AppendValues(make([]any, 0, len(catalog))) {
		dst = append(dst, denseValue(&catalog[i], val))
	}
	return dst
}

func denseValue(d *Descriptor, val any) float64 {
	switch x := val.(type) {
	case nil:
		return math.NaN()
	case int64:
		return float64(x)
	case float64:
		return x
	case time.Time:
		return float64(x.UnixMicro()) / 1e6
	case string:
		if i := slices.Index(d.Categories, x); i >= 0 {
			return float64(i)
		}
		return float64(len(d.Categories) - 1)
	}
	return math.NaN()
}
