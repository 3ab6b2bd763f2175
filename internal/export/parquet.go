package export

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/buildinfo"
	"github.com/featurestore/featurestore/internal/features"
)

// parquetSchema is the Parquet form of Columns: INT64 integers, DOUBLE
// floats, TIMESTAMP(MICROS, UTC) instants and dictionary-encoded STRING
// text, OPTIONAL where the column is nullable, in column order.
var parquetSchema = func() *parquet.Schema {
	group := parquet.Group{}
	order := make([]string, len(columns))
	for i, c := range columns {
		var n parquet.Node
		switch c.Type {
		case features.TypeInt:
			n = parquet.Int(64)
		case features.TypeFloat:
			n = parquet.Leaf(parquet.DoubleType)
		case features.TypeTimestamp:
			n = parquet.Timestamp(parquet.Microsecond)
		case features.TypeString:
			n = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		}
		if c.Nullable {
			n = parquet.Optional(n)
		}
		group[c.Name] = n
		order[i] = c.Name
	}
	return parquet.NewSchema("interaction_features", newOrderedGroup(group, order))
}()

// orderedGroup is a parquet.Group whose fields keep a given order, where
// parquet.Group sorts them by name; parquet-go orders its own VARIANT
// groups the same way.
type orderedGroup struct {
	parquet.Group
	fields []parquet.Field
}

func newOrderedGroup(g parquet.Group, order []string) orderedGroup {
	byName := make(map[string]parquet.Field, len(g))
	for _, f := range g.Fields() {
		byName[f.Name()] = f
	}
	fields := make([]parquet.Field, len(order))
	for i, name := range order {
		fields[i] = byName[name]
	}
	return orderedGroup{Group: g, fields: fields}
}

func (g orderedGroup) Fields() []parquet.Field { return g.fields }

// newParquetWriter returns a writer of rows in parquetSchema: the schema is
// built at run time, so the writer's type parameter is any and rows are
// written as parquet.Row values, never as Go structs.
func newParquetWriter(f *os.File) *parquet.GenericWriter[any] {
	return parquet.NewGenericWriter[any](f, parquetSchema, parquet.Compression(&snappy.Codec{}),
		createdBy("featurestore version "+buildinfo.Read().String()))
}

// createdBy sets the file's created_by to the string as it is (the
// library's own option leaves no space before "(build").
type createdBy string

func (c createdBy) ConfigureWriter(cfg *parquet.WriterConfig) { cfg.CreatedBy = string(c) }

// appendParquetRow appends row as a parquet.Row: each value at its column
// with the definition level that says whether an optional one is NULL.
func appendParquetRow(dst parquet.Row, row []value) parquet.Row {
	for i, v := range row {
		c := &columns[i]
		var pv parquet.Value
		switch {
		case v.null:
			pv = parquet.NullValue()
		case c.Type == features.TypeInt:
			pv = parquet.Int64Value(v.i)
		case c.Type == features.TypeFloat:
			pv = parquet.DoubleValue(v.f)
		case c.Type == features.TypeTimestamp:
			pv = parquet.Int64Value(v.t.UnixMicro())
		case c.Type == features.TypeString:
			pv = parquet.ByteArrayValue([]byte(v.s))
		}
		level := 0
		if c.Nullable && !v.null {
			level = 1
		}
		dst = append(dst, pv.Level(0, level, i))
	}
	return dst
}

// parquetSink writes a Parquet export as numbered part files in a
// directory beside the output, each a complete Parquet file of one row
// group. A Parquet file's metadata sits in its footer, written last, so a
// file cut short cannot be read or appended to; closed parts can. A part is
// closed when it holds rowGroupRows rows (at a batch boundary, so that a
// batch's token marks its end) and when the export stops; its resume
// position is the number of closed parts. A resume drops any part after the
// recorded ones, so the rows of a part that was being written when the
// export died are fetched again. finish joins the parts into the output,
// copying their row groups without decoding them.
type parquetSink struct {
	output       string
	dir          string
	rowGroupRows int
	parts        int64 // closed parts
	part         *os.File
	writer       *parquet.GenericWriter[any]
	partRows     int
	row          []value
	rows         []parquet.Row
}

func partsDir(output string) string { return output + ".parts" }

func (s *parquetSink) partPath(n int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("part-%06d.parquet", n))
}

// openParquetSink prepares the parts directory of output for a sink that
// continues after parts closed parts, removing anything written after
// them.
func openParquetSink(output string, parts int64, rowGroupRows int) (*parquetSink, error) {
	s := &parquetSink{output: output, dir: partsDir(output), rowGroupRows: rowGroupRows, parts: parts}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create parts directory: %w", err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read parts directory: %w", err)
	}
	keep := make(map[string]bool, parts)
	for i := int64(1); i <= parts; i++ {
		keep[filepath.Base(s.partPath(i))] = true
	}
	for _, e := range entries {
		if keep[e.Name()] {
			delete(keep, e.Name())
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
			return nil, fmt.Errorf("remove unfinished part: %w", err)
		}
	}
	if len(keep) > 0 {
		return nil, fmt.Errorf("%d of the %d recorded parts are missing from %s", len(keep), parts, s.dir)
	}
	return s, nil
}

func (s *parquetSink) write(recs []*featurestorev1.FeatureRecord) (int64, error) {
	if s.writer == nil {
		f, err := os.Create(s.partPath(s.parts+1) + ".tmp")
		if err != nil {
			return -1, fmt.Errorf("create part: %w", err)
		}
		s.part, s.writer = f, newParquetWriter(f)
	}
	s.rows = slices.Grow(s.rows[:0], len(recs))[:len(recs)]
	for i, rec := range recs {
		s.row = appendRow(s.row[:0], rec)
		s.rows[i] = appendParquetRow(s.rows[i][:0], s.row)
	}
	if _, err := s.writer.WriteRows(s.rows); err != nil {
		return -1, fmt.Errorf("write part %d: %w", s.parts+1, err)
	}
	s.partRows += len(recs)
	if s.partRows < s.rowGroupRows {
		return -1, nil
	}
	return s.sync()
}

// sync closes the part being written, if any, and returns the number of
// closed parts.
func (s *parquetSink) sync() (int64, error) {
	if s.writer == nil {
		return s.parts, nil
	}
	tmp := s.part.Name()
	err := s.writer.Close()
	if err == nil {
		err = s.part.Sync()
	}
	if cerr := s.part.Close(); err == nil {
		err = cerr
	}
	s.writer, s.part, s.partRows = nil, nil, 0
	if err != nil {
		return -1, fmt.Errorf("close part %d: %w", s.parts+1, err)
	}
	if err := os.Rename(tmp, s.partPath(s.parts+1)); err != nil {
		return -1, fmt.Errorf("close part %d: %w", s.parts+1, err)
	}
	if err := syncDir(s.dir); err != nil {
		return -1, err
	}
	s.parts++
	return s.parts, nil
}

// finish joins the parts into the output through a temporary file renamed
// into place, so the output is only ever absent, old, or complete.
func (s *parquetSink) finish() error {
	if _, err := s.sync(); err != nil {
		return err
	}
	tmp := s.output + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	w := newParquetWriter(out)
	for i := int64(1); i <= s.parts; i++ {
		if err := copyPart(w, s.partPath(i)); err != nil {
			out.Close()
			return err
		}
	}
	err = w.Close()
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", s.output, err)
	}
	if err := os.Rename(tmp, s.output); err != nil {
		return fmt.Errorf("write %s: %w", s.output, err)
	}
	if err := syncDir(filepath.Dir(s.output)); err != nil {
		return err
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove parts directory: %w", err)
	}
	return nil
}

// copyPart appends the row groups of the part file at path to w.
func copyPart(w *parquet.GenericWriter[any], path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open part: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open part: %w", err)
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		return fmt.Errorf("read part %s: %w", filepath.Base(path), err)
	}
	for _, rg := range pf.RowGroups() {
		if _, err := w.WriteRowGroup(rg); err != nil {
			return fmt.Errorf("copy part %s: %w", filepath.Base(path), err)
		}
	}
	return nil
}

func (s *parquetSink) close() error {
	if s.part == nil {
		return nil
	}
	// Only reached when sync failed or was not called: the part is left
	// unfinished, and a resume removes it.
	err := s.part.Close()
	s.writer, s.part = nil, nil
	if err != nil && !errors.Is(err, fs.ErrClosed) {
		return fmt.Errorf("close part: %w", err)
	}
	return nil
}

func (s *parquetSink) discard() error {
	err := s.close()
	if rerr := os.RemoveAll(s.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("remove parts directory: %w", rerr))
	}
	return err
}

// syncDir makes the entries of dir (a rename, a new file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
