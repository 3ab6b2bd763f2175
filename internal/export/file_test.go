package export_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/buildinfo"
	"github.com/featurestore/featurestore/internal/export"
	"github.com/featurestore/featurestore/internal/export/exporttest"
	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/protoconv"
)

var formats = []export.Format{export.CSV, export.JSONL, export.Parquet}

func TestColumnsFollowCatalog(t *testing.T) {
	t.Parallel()
	cols := export.Columns()
	catalog := features.Catalog()
	if len(cols) != 2+len(catalog)+3 {
		t.Fatalf("%d columns, want the pair, %d features, as_of, computed_at, features_version", len(cols), len(catalog))
	}
	want := append(append([]string{"customer_id", "product_id"}, features.Names()...), "as_of", "computed_at", "features_version")
	for i, c := range cols {
		if c.Name != want[i] {
			t.Errorf("column %d is %s, want %s", i, c.Name, want[i])
		}
	}
	for i, d := range catalog {
		if c := cols[2+i]; c.Type != d.Type || c.Nullable != d.Nullable {
			t.Errorf("%s: type %s nullable %v, catalogue says %s %v", c.Name, c.Type, c.Nullable, d.Type, d.Nullable)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// testRecords returns n records whose values vary with i and cover NULLs,
// text that needs quoting or escaping, and extreme numbers.
func testRecords(n int) []*featurestorev1.FeatureRecord {
	base := time.Date(2025, 6, 1, 12, 30, 15, 123456000, time.UTC)
	texts := []string{"mobile", `a "quoted", value`, "line\nbreak\r", " padded ", "ünïcödé ✓", `back\slash`, "tab\there", "\x01ctl"}
	out := make([]*featurestorev1.FeatureRecord, n)
	for i := range out {
		f := &featurestorev1.Features{
			TotalViews:              ptr(int32(i)),
			UniqueViews:             ptr(math.MaxInt32 - int32(i)),
			ViewFrequency:           ptr(float64(i) / 3),
			EngagementScore:         ptr([]float64{0, 1e-300, 1e300, -0.5, 100, math.SmallestNonzeroFloat64}[i%6]),
			CartAdds:                ptr(int32(i % 5)),
			InteractionQualityScore: ptr(float64(i)),
			PurchaseQuantity:        ptr(math.MaxInt64 - int64(i)),
			PurchaseValue:           ptr(12.34 * float64(i)),
			FirstViewDate:           timestamppb.New(base.Add(-time.Duration(i) * time.Hour)),
			LastViewDate:            timestamppb.New(base.Add(time.Duration(i) * time.Microsecond)),
			ChannelPreference:       ptr(texts[i%len(texts)]),
		}
		if i%3 != 0 {
			f.ViewDurationAvg = ptr(float64(i) + 0.25)
			f.ViewRecency = ptr(int32(i % 30))
			f.PreferredDevice = ptr(texts[(i+1)%len(texts)])
			f.LastPurchaseDate = timestamppb.New(time.Unix(0, 0).UTC())
		}
		if i%4 == 0 {
			f.FirstViewDate, f.LastViewDate, f.ChannelPreference = nil, nil, nil
		}
		// Every feature that is not NULL is present, 0 included, as a
		// server sends it.
		v := protoconv.Vector(f)
		f = protoconv.Features(&v)
		out[i] = &featurestorev1.FeatureRecord{
			CustomerId:      fmt.Sprintf("gid://shopify/Customer/%d,%q", i/10, "x"),
			ProductId:       "gid://shopify/Product/" + strconv.Itoa(i),
			Features:        f,
			AsOf:            timestamppb.New(base.Truncate(time.Hour)),
			ComputedAt:      timestamppb.New(base.Add(time.Duration(i) * time.Second)),
			FeaturesVersion: 1,
		}
	}
	return out
}

// tokenAfter is the test's stand-in for a resume token: the records are
// numbered, so the token is the number of records before it.
func tokenAfter(n int) string { return "after-" + strconv.Itoa(n) }

func rowsAfter(t *testing.T, token string) int {
	t.Helper()
	if token == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimPrefix(token, "after-"))
	if err != nil {
		t.Fatalf("token %q", token)
	}
	return n
}

// writeBatches writes recs[from:to] in batches of size, each with the token
// after its last record.
func writeBatches(t *testing.T, f *export.File, recs []*featurestorev1.FeatureRecord, from, to, size int) {
	t.Helper()
	for i := from; i < to; i += size {
		end := min(i+size, to)
		if err := f.Write(recs[i:end], tokenAfter(end)); err != nil {
			t.Fatal(err)
		}
	}
}

func checkFile(t *testing.T, path string, format export.Format, want []*featurestorev1.FeatureRecord) {
	t.Helper()
	got := exporttest.ReadRecords(t, path, format)
	if len(got) != len(want) {
		t.Fatalf("%s has %d rows, want %d", path, len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("row %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
	if _, err := os.Stat(export.StatePath(path)); !os.IsNotExist(err) {
		t.Errorf("the export state is still there after the export finished (%v)", err)
	}
}

var scope = export.Scope{ShopID: "shop"}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{250, 0} {
		for _, format := range formats {
			t.Run(fmt.Sprintf("%s/%d rows", format, n), func(t *testing.T) {
				roundTrip(t, format, testRecords(n), filepath.Join(t.TempDir(), "out."+string(format)))
			})
		}
	}
}

// roundTrip exports recs to path in batches of 30, reads the file back and
// compares it with them.
func roundTrip(t *testing.T, format export.Format, recs []*featurestorev1.FeatureRecord, path string) {
	t.Helper()
	f, err := export.Create(path, export.Options{Format: format, Scope: scope, RowGroupRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	writeBatches(t, f, recs, 0, len(recs), 30)
	if err := f.Finish(); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, format, recs)
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the directory holds %d entries after the export, want only the output", len(entries))
	}
}

// TestDiscard checks that a discarded export leaves nothing behind but the
// finished Parquet file it was to replace, and that a new export can start.
func TestDiscard(t *testing.T) {
	t.Parallel()
	for _, format := range formats {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out."+string(format))
			opts := export.Options{Format: format, Scope: scope, RowGroupRows: 10}
			roundTrip(t, format, testRecords(5), path)
			f, err := export.Create(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			writeBatches(t, f, testRecords(25), 0, 25, 5)
			if err := f.Discard(); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			if format == export.Parquet {
				if len(entries) != 1 {
					t.Fatalf("%d entries left after Discard, want the earlier file", len(entries))
				}
				checkFile(t, path, format, testRecords(5))
			} else if len(entries) != 0 {
				t.Fatalf("%d entries left after Discard", len(entries))
			}
			if f, err = export.Create(path, opts); err != nil {
				t.Fatalf("Create after Discard: %v", err)
			}
			f.Close()
		})
	}
}

// TestResume stops each format's export in the ways an export stops, resumes
// it, and checks that the finished file holds every record exactly once.
func TestResume(t *testing.T) {
	t.Parallel()
	const total, batch = 400, 20
	recs := testRecords(total)
	for _, format := range formats {
		for _, tc := range []struct {
			name string
			// stop writes part of the export and stops it; it returns the
			// rows the resume must start after.
			stop func(t *testing.T, f *export.File) int
		}{
			{"orderly stop", func(t *testing.T, f *export.File) int {
				writeBatches(t, f, recs, 0, 170, batch)
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				return 170 // everything written was recorded
			}},
			{"crash after checkpoints", func(t *testing.T, f *export.File) int {
				export.SetCheckpointInterval(f, 0)
				writeBatches(t, f, recs, 0, 160, batch)
				export.SetCheckpointInterval(f, time.Hour)
				writeBatches(t, f, recs, 160, 250, batch)
				export.Crash(f)
				if format == export.Parquet {
					return 200 // the parts of 100 rows closed so far
				}
				return 160
			}},
			{"crash after the last row", func(t *testing.T, f *export.File) int {
				// The file holds every row, some past the checkpoint, and
				// half a line after them: only a cut at the checkpoint
				// leaves no trace of them once the rest is written again.
				export.SetCheckpointInterval(f, 0)
				writeBatches(t, f, recs, 0, 160, batch)
				export.SetCheckpointInterval(f, time.Hour)
				writeBatches(t, f, recs, 160, total, batch)
				export.Crash(f)
				if format == export.Parquet {
					return total
				}
				return 160
			}},
			{"crash before any row was recorded", func(t *testing.T, f *export.File) int {
				export.SetCheckpointInterval(f, time.Hour)
				writeBatches(t, f, recs, 0, 90, batch)
				export.Crash(f)
				return 0
			}},
		} {
			t.Run(string(format)+"/"+tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "out."+string(format))
				opts := export.Options{Format: format, Scope: scope, RowGroupRows: 100}
				f, err := export.Create(path, opts)
				if err != nil {
					t.Fatal(err)
				}
				after := tc.stop(t, f)
				if format != export.Parquet {
					// A process killed mid-write leaves half a line.
					out, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					out.WriteString(`gid://shopify/Customer/99,"half a li`)
					out.Close()
				}
				if _, err := export.Create(path, opts); err == nil {
					t.Fatal("Create over an unfinished export succeeded")
				}
				f, err = export.Resume(path, opts)
				if err != nil {
					t.Fatal(err)
				}
				if got := rowsAfter(t, f.Token()); got != after || f.Rows() != int64(after) {
					t.Fatalf("resume continues after row %d (file has %d), want %d", got, f.Rows(), after)
				}
				writeBatches(t, f, recs, after, total, batch)
				if err := f.Finish(); err != nil {
					t.Fatal(err)
				}
				checkFile(t, path, format, recs)
			})
		}
	}
}

// TestResumeAfterStreamEnded resumes an export that stopped between the end
// of the stream and the completed file.
func TestResumeAfterStreamEnded(t *testing.T) {
	t.Parallel()
	recs := testRecords(50)
	for _, format := range formats {
		t.Run(string(format), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out."+string(format))
			opts := export.Options{Format: format, Scope: scope, RowGroupRows: 20}
			f, err := export.Create(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			writeBatches(t, f, recs, 0, len(recs), 10)
			export.MarkComplete(t, f)
			export.Crash(f)
			f, err = export.Resume(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !f.Complete() {
				t.Fatal("the resumed export does not know that its stream ended")
			}
			if err := f.Finish(); err != nil {
				t.Fatal(err)
			}
			checkFile(t, path, format, recs)
		})
	}
}

func TestResumeRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	since := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	started := export.Options{Format: export.CSV, Scope: export.Scope{ShopID: "shop", UpdatedSince: &since, CustomerIDs: []string{"a", "b"}}}
	path := filepath.Join(dir, "out.csv")
	f, err := export.Create(path, started)
	if err != nil {
		t.Fatal(err)
	}
	writeBatches(t, f, testRecords(10), 0, 10, 5)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	later := since.Add(time.Second)
	for name, opts := range map[string]export.Options{
		"another format":        {Format: export.JSONL, Scope: started.Scope},
		"another shop":          {Format: export.CSV, Scope: export.Scope{ShopID: "shop2", UpdatedSince: &since, CustomerIDs: []string{"a", "b"}}},
		"without updated_since": {Format: export.CSV, Scope: export.Scope{ShopID: "shop", CustomerIDs: []string{"a", "b"}}},
		"another updated_since": {Format: export.CSV, Scope: export.Scope{ShopID: "shop", UpdatedSince: &later, CustomerIDs: []string{"a", "b"}}},
		"other customers":       {Format: export.CSV, Scope: export.Scope{ShopID: "shop", UpdatedSince: &since, CustomerIDs: []string{"a"}}},
	} {
		if _, err := export.Resume(path, opts); err == nil {
			t.Errorf("resume with %s succeeded", name)
		}
	}
	if _, err := export.Resume(filepath.Join(dir, "never-started.csv"), started); err == nil {
		t.Error("resume of an export that never started succeeded")
	}
	// The same customers in another order are the same export.
	reordered := started
	reordered.Scope.CustomerIDs = []string{"b", "a", "b"}
	f, err = export.Resume(path, reordered)
	if err != nil {
		t.Fatalf("resume with the customers reordered: %v", err)
	}
	f.Close()
	// A file cut shorter than its checkpoint cannot be continued honestly.
	if err := os.Truncate(path, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := export.Resume(path, started); err == nil {
		t.Error("resume of a file shorter than its checkpoint succeeded")
	}
}

// TestParquetCreatedBy reads the created_by of a Parquet export: the
// application and the build's version, never an empty "(build )".
func TestParquetCreatedBy(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.parquet")
	roundTrip(t, export.Parquet, testRecords(3), path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		t.Fatal(err)
	}
	got := pf.Metadata().CreatedBy
	if want := "featurestore version " + buildinfo.Read().String(); got != want || strings.Contains(got, "(build )") {
		t.Errorf("created_by %q, want %q", got, want)
	}
}
