package store

import (
	"fmt"
	"slices"
	"testing"
)

func TestRangesBetween(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		bounds []string
		want   []CustomerRange
	}{
		{nil, []CustomerRange{{}}},
		{[]string{"", ""}, []CustomerRange{{}}},
		{[]string{"m"}, []CustomerRange{{To: "m"}, {From: "m"}}},
		{[]string{"c", "c", "k", "k", "k"}, []CustomerRange{{To: "c"}, {From: "c", To: "k"}, {From: "k"}}},
	} {
		t.Run(fmt.Sprint(tc.bounds), func(t *testing.T) {
			if got := rangesBetween(tc.bounds); !slices.Equal(got, tc.want) {
				t.Errorf("rangesBetween(%q) = %v, want %v", tc.bounds, got, tc.want)
			}
		})
	}
}
