package features

import (
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/testenv/golden"
)

// TestGolden runs Compute over the golden input of FEATURES.md and compares
// every row and column with the expected files, and the set of pairs with
// the set of expected rows.
func TestGolden(t *testing.T) {
	t.Parallel()
	in := loadGoldenInput(t)
	tests := []struct {
		file string
		asOf time.Time
	}{
		{"expected_interaction_features.csv", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"expected_interaction_features_as_of_2025-03-01.csv", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			want := readGoldenTable(t, tt.file)
			checkGoldenHeader(t, want)

			wantRows := make(map[goldenPair][]string, len(want.Rows))
			for _, r := range want.Rows {
				p := goldenPair{goldenCell(t, want, r, "shop_id"), goldenCell(t, want, r, "customer_id"), goldenCell(t, want, r, "product_id")}
				if _, dup := wantRows[p]; dup {
					t.Fatalf("%s: pair %s appears twice", tt.file, p)
				}
				wantRows[p] = r
			}

			matched := 0
			for p := range in.pairs() {
				// Compute may reorder the slice; work on a copy so the other
				// subtest sees the input as loaded.
				events := append([]Event(nil), in.events[p]...)
				lines := in.lines[p]
				exists := PairExists(tt.asOf, events, lines)
				row, expected := wantRows[p]
				delete(wantRows, p)
				switch {
				case exists && !expected:
					t.Errorf("%s: computed a row that the golden file does not have", p)
					continue
				case !exists && expected:
					t.Errorf("%s: golden row missing from the computed pairs", p)
					continue
				case !exists:
					continue
				}
				v := Compute(tt.asOf, events, lines)
				if compareGoldenRow(t, p, want, row, &v) {
					matched++
				}
			}
			for p := range wantRows {
				t.Errorf("%s: golden row for a pair without input", p)
			}
			t.Logf("%d of %d golden rows match", matched, len(want.Rows))
		})
	}
}

// checkGoldenHeader fails the test unless the expected file holds exactly the
// pair key and the columns of vectorColumns, so no column goes unchecked.
func checkGoldenHeader(t *testing.T, want *golden.Table) {
	t.Helper()
	names := []string{"shop_id", "customer_id", "product_id"}
	for _, c := range vectorColumns {
		names = append(names, c.name)
	}
	if len(names) != len(want.Header) {
		t.Fatalf("%s has %d columns, the test checks %d", want.Name, len(want.Header), len(names))
	}
	for _, n := range names {
		if _, ok := want.Column(n); !ok {
			t.Fatalf("%s has no column %q", want.Name, n)
		}
	}
}

// compareGoldenRow reports every column of v that differs from the golden
// row, and whether the whole row matches.
func compareGoldenRow(t *testing.T, p goldenPair, want *golden.Table, row []string, v *Vector) bool {
	t.Helper()
	ok := true
	for _, c := range vectorColumns {
		if diff := golden.Match(c.get(v), goldenCell(t, want, row, c.name)); diff != "" {
			t.Errorf("shop %s customer %s product %s column %s: %s", p.shop, p.customer, p.product, c.name, diff)
			ok = false
		}
	}
	return ok
}
