// Package golden reads the golden data set of FEATURES.md (testdata/golden)
// and holds the one comparison of a computed value with the set's text that
// every golden test uses: the kernel's own tests, which run without
// services, and the tests of the store, the server and the exports built on
// Postgres. It imports nothing of the project, so that the kernel's tests
// can use it without an import cycle.
package golden

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// TimeLayout is how the golden files write instants, all in UTC.
const TimeLayout = "2006-01-02 15:04:05.999999"

// Dir is the repository's copy of the golden data set.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "golden")
}

// Table is one CSV file of the golden set: its header and rows, an empty
// field standing for NULL.
type Table struct {
	Name   string
	Header []string
	Rows   [][]string
	column map[string]int
}

// ReadTable reads the golden CSV file name.
func ReadTable(name string) (*Table, error) {
	f, err := os.Open(filepath.Join(Dir(), name))
	if err != nil {
		return nil, fmt.Errorf("open golden file: %w", err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read golden file %s: %w", name, err)
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("golden file %s has no header", name)
	}
	t := &Table{Name: name, Header: records[0], Rows: records[1:], column: make(map[string]int, len(records[0]))}
	for i, c := range t.Header {
		t.column[c] = i
	}
	return t, nil
}

// Column returns the index of the column called name.
func (t *Table) Column(name string) (int, bool) {
	i, ok := t.column[name]
	return i, ok
}

// ParseTime parses an instant as the golden files write it.
func ParseTime(s string) (time.Time, error) {
	return time.ParseInLocation(TimeLayout, s, time.UTC)
}

// FloatsEqual compares floats as FEATURES.md prescribes: 1e-9 relative,
// 1e-12 absolute near zero. NaN equals nothing.
func FloatsEqual(got, want float64) bool {
	if got == want {
		return true
	}
	diff := math.Abs(got - want)
	return diff <= 1e-12 || diff <= 1e-9*math.Max(math.Abs(got), math.Abs(want))
}

// Match compares a computed value, as the kernel or a database driver gives
// it (an int32 or int64, a float64, a time.Time, a string, or nil for NULL),
// with its golden text want ("" for NULL): integers and instants exactly
// (an integer may be written "2.0"), floats by FloatsEqual, texts
// byte for byte. It returns what differs, or "" when they match.
func Match(got any, want string) string {
	if want == "" || got == nil {
		if want == "" && got == nil {
			return ""
		}
		return fmt.Sprintf("got %s, want %s", Format(got), quoteNull(want))
	}
	switch g := got.(type) {
	case int32:
		return matchInt(int64(g), want)
	case int64:
		return matchInt(g, want)
	case float64:
		w, err := strconv.ParseFloat(want, 64)
		if err != nil {
			return fmt.Sprintf("bad expected float %q", want)
		}
		if !FloatsEqual(g, w) {
			return fmt.Sprintf("got %.17g, want %.17g", g, w)
		}
	case time.Time:
		w, err := ParseTime(want)
		if err != nil {
			return fmt.Sprintf("bad expected timestamp %q", want)
		}
		if !g.Equal(w) {
			return fmt.Sprintf("got %s, want %s", g.UTC().Format(time.RFC3339Nano), w.Format(time.RFC3339Nano))
		}
	case string:
		if g != want {
			return fmt.Sprintf("got %q, want %q", g, want)
		}
	default:
		return fmt.Sprintf("got %T %v, which no golden column holds", got, got)
	}
	return ""
}

// matchInt compares an integer with its golden text, which is an integer
// or a float of integer value.
func matchInt(g int64, want string) string {
	w, err := strconv.ParseInt(want, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(want, 64)
		if ferr != nil || f != math.Trunc(f) {
			return fmt.Sprintf("bad expected integer %q", want)
		}
		w = int64(f)
	}
	if g != w {
		return fmt.Sprintf("got %d, want %d", g, w)
	}
	return ""
}

// Format renders a computed value the way the golden files write it, NULL
// for nil, for failure messages.
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.UTC().Format(TimeLayout)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

func quoteNull(want string) string {
	if want == "" {
		return "NULL"
	}
	return strconv.Quote(want)
}
