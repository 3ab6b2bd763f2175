package golden

import (
	"math"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 12, 30, 0, 123456000, time.UTC)
	for _, tc := range []struct {
		got   any
		want  string
		match bool
	}{
		{nil, "", true},
		{nil, "0", false},
		{int64(0), "", false},
		{int64(2), "2", true},
		{int64(2), "2.0", true},
		{int32(2), "2", true},
		{int64(2), "3", false},
		{int64(2), "2.5", false},
		{int64(2), "two", false},
		{0.1 + 0.2, "0.3", true},
		{1e-13, "0", true},
		{1.0, "1.000000002", false},
		{math.NaN(), "NaN", false},
		{at, "2025-06-01 12:30:00.123456", true},
		{at.In(time.FixedZone("x", 3600)), "2025-06-01 12:30:00.123456", true},
		{at, "2025-06-01 12:30:00.123457", false},
		{at, "yesterday", false},
		{"mobile", "mobile", true},
		{"mobile", "Mobile", false},
		{[]byte("mobile"), "mobile", false},
	} {
		if diff := Match(tc.got, tc.want); (diff == "") != tc.match {
			t.Errorf("Match(%#v, %q) = %q, want a match: %v", tc.got, tc.want, diff, tc.match)
		}
	}
}

func TestReadTable(t *testing.T) {
	t.Parallel()
	tab, err := ReadTable("product_data.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Column("product_id"); !ok || len(tab.Rows) == 0 {
		t.Fatalf("product_data.csv: columns %v, %d rows", tab.Header, len(tab.Rows))
	}
	if _, err := ReadTable("no-such-file.csv"); err == nil {
		t.Error("reading a missing file succeeded")
	}
}
