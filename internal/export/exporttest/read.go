// Package exporttest reads export files back into records, so that tests
// can compare what an export wrote with what the table holds. It reads each
// format the way a training pipeline's reader would: CSV by its header, JSON
// lines by key, Parquet column by column, checking the file's column names,
// order and types against export.Columns on the way.
package exporttest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/export"
	"github.com/featurestore/featurestore/internal/features"
)

// cell is one value read from a file.
type cell struct {
	null bool
	i    int64
	f    float64
	t    time.Time
	s    string
}

// ReadRecords reads the export file at path back into records, failing the
// test when the file does not have exactly the export columns. An empty CSV
// field reads as NULL in a nullable column, as pandas reads it.
func ReadRecords(t testing.TB, path string, f export.Format) []*featurestorev1.FeatureRecord {
	t.Helper()
	var rows [][]cell
	var err error
	switch f {
	case export.CSV:
		rows, err = readCSV(path)
	case export.JSONL:
		rows, err = readJSONL(path)
	case export.Parquet:
		rows, err = readParquet(path)
	default:
		err = fmt.Errorf("unknown format %q", f)
	}
	if err != nil {
		t.Fatalf("read %s export %s: %v", f, path, err)
	}
	cols := export.Columns()
	recs := make([]*featurestorev1.FeatureRecord, len(rows))
	for i, row := range rows {
		recs[i] = &featurestorev1.FeatureRecord{Features: &featurestorev1.Features{}}
		for j, c := range cols {
			if err := set(recs[i], c, row[j]); err != nil {
				t.Fatalf("%s row %d column %s: %v", path, i+1, c.Name, err)
			}
		}
	}
	return recs
}

// set stores v as column c of rec.
func set(rec *featurestorev1.FeatureRecord, c export.Column, v cell) error {
	switch c.Name {
	case "customer_id":
		rec.CustomerId = v.s
	case "product_id":
		rec.ProductId = v.s
	case "as_of":
		rec.AsOf = timestamppb.New(v.t)
	case "computed_at":
		rec.ComputedAt = timestamppb.New(v.t)
	case "features_version":
		rec.FeaturesVersion = int32(v.i)
	default:
		m := rec.Features.ProtoReflect()
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(c.Name))
		if fd == nil {
			return errors.New("not a feature")
		}
		if v.null {
			if !c.Nullable {
				return errors.New("NULL in a column that is not nullable")
			}
			return nil
		}
		switch fd.Kind() {
		case protoreflect.Int32Kind:
			m.Set(fd, protoreflect.ValueOfInt32(int32(v.i)))
		case protoreflect.Int64Kind:
			m.Set(fd, protoreflect.ValueOfInt64(v.i))
		case protoreflect.DoubleKind:
			m.Set(fd, protoreflect.ValueOfFloat64(v.f))
		case protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(v.s))
		case protoreflect.MessageKind:
			m.Set(fd, protoreflect.ValueOfMessage(timestamppb.New(v.t).ProtoReflect()))
		}
	}
	return nil
}

// parseText parses a CSV field or a JSON string or number as column c.
func parseText(c export.Column, s string) (cell, error) {
	var v cell
	var err error
	switch c.Type {
	case features.TypeInt:
		v.i, err = strconv.ParseInt(s, 10, 64)
	case features.TypeFloat:
		v.f, err = strconv.ParseFloat(s, 64)
	case features.TypeTimestamp:
		v.t, err = time.Parse(time.RFC3339Nano, s)
	case features.TypeString:
		v.s = s
	}
	return v, err
}

func readCSV(path string) ([][]cell, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	cols := export.Columns()
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if len(header) != len(cols) {
		return nil, fmt.Errorf("header has %d columns, want %d", len(header), len(cols))
	}
	for i, name := range header {
		if name != cols[i].Name {
			return nil, fmt.Errorf("header column %d is %q, want %q", i, name, cols[i].Name)
		}
	}
	var rows [][]cell
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		row := make([]cell, len(cols))
		for i, field := range rec {
			if field == "" && cols[i].Nullable {
				row[i].null = true
				continue
			}
			if row[i], err = parseText(cols[i], field); err != nil {
				return nil, fmt.Errorf("line %d, %s: %w", len(rows)+2, cols[i].Name, err)
			}
		}
		rows = append(rows, row)
	}
}

func readJSONL(path string) ([][]cell, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cols := export.Columns()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var rows [][]cell
	for sc.Scan() {
		row, err := readJSONObject(sc.Bytes(), cols)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", len(rows)+1, err)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// readJSONObject reads one line's object, whose keys must be the columns in
// order.
func readJSONObject(line []byte, cols []export.Column) ([]cell, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	row := make([]cell, len(cols))
	for i, c := range cols {
		key, err := dec.Token()
		if err != nil || key != c.Name {
			return nil, fmt.Errorf("key %d is %v, want %q", i, key, c.Name)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		if string(raw) == "null" {
			if !c.Nullable {
				return nil, fmt.Errorf("%s: null in a column that is not nullable", c.Name)
			}
			row[i].null = true
			continue
		}
		text := string(raw)
		if c.Type == features.TypeString || c.Type == features.TypeTimestamp {
			if err := json.Unmarshal(raw, &text); err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
		}
		if row[i], err = parseText(c, text); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	if len(fields) != len(cols) {
		return nil, fmt.Errorf("%d keys, want %d", len(fields), len(cols))
	}
	return row, nil
}

// readParquet reads the file column by column, as columnar readers do,
// after checking each column's name, type and repetition.
func readParquet(path string) ([][]cell, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		return nil, err
	}
	cols := export.Columns()
	leaves := pf.Schema().Fields()
	if len(leaves) != len(cols) {
		return nil, fmt.Errorf("%d columns, want %d", len(leaves), len(cols))
	}
	for i, c := range cols {
		if err := checkParquetColumn(leaves[i], c); err != nil {
			return nil, fmt.Errorf("column %d: %w", i, err)
		}
	}
	rows := make([][]cell, pf.NumRows())
	for i := range rows {
		rows[i] = make([]cell, len(cols))
	}
	base := 0
	for _, rg := range pf.RowGroups() {
		for j, chunk := range rg.ColumnChunks() {
			n, err := readParquetColumn(chunk, cols[j], rows[base:base+int(rg.NumRows())], j)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", cols[j].Name, err)
			}
			if n != int(rg.NumRows()) {
				return nil, fmt.Errorf("column %s has %d values in a row group of %d rows", cols[j].Name, n, rg.NumRows())
			}
		}
		base += int(rg.NumRows())
	}
	return rows, nil
}

// checkParquetColumn checks that a file's column is what a reader should
// see for c: INT64, DOUBLE, TIMESTAMP(MICROS, UTC) or STRING, optional
// exactly when c is nullable.
func checkParquetColumn(field parquet.Field, c export.Column) error {
	if field.Name() != c.Name {
		return fmt.Errorf("named %s, want %s", field.Name(), c.Name)
	}
	if field.Optional() != c.Nullable || field.Repeated() {
		return fmt.Errorf("%s: optional %v, want %v", c.Name, field.Optional(), c.Nullable)
	}
	typ := field.Type()
	var logical format.LogicalTypeValue
	if lt := typ.LogicalType(); lt != nil {
		logical = lt.Value
	}
	ok := false
	switch c.Type {
	case features.TypeInt:
		ok = typ.Kind() == parquet.Int64
	case features.TypeFloat:
		ok = typ.Kind() == parquet.Double
	case features.TypeTimestamp:
		ts, isTS := logical.(*format.TimestampType)
		if ok = typ.Kind() == parquet.Int64 && isTS && ts.IsAdjustedToUTC; ok {
			_, ok = ts.Unit.Value.(*format.MicroSeconds)
		}
	case features.TypeString:
		_, isString := logical.(*format.StringType)
		ok = typ.Kind() == parquet.ByteArray && isString
	}
	if !ok {
		return fmt.Errorf("%s has type %s, which does not fit %s", c.Name, typ, c.Type)
	}
	return nil
}

// readParquetColumn reads a column chunk into column j of rows and returns
// the number of values read.
func readParquetColumn(chunk parquet.ColumnChunk, c export.Column, rows [][]cell, j int) (int, error) {
	pages := chunk.Pages()
	defer pages.Close()
	n := 0
	for {
		page, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		values := make([]parquet.Value, page.NumValues())
		read, err := page.Values().ReadValues(values)
		parquet.Release(page)
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		for _, v := range values[:read] {
			if n >= len(rows) {
				return n + 1, nil
			}
			cl := &rows[n][j]
			switch {
			case v.IsNull():
				cl.null = true
			case c.Type == features.TypeInt:
				cl.i = v.Int64()
			case c.Type == features.TypeFloat:
				cl.f = v.Double()
			case c.Type == features.TypeTimestamp:
				cl.t = time.UnixMicro(v.Int64()).UTC()
			case c.Type == features.TypeString:
				cl.s = string(v.ByteArray())
			}
			n++
		}
	}
}
