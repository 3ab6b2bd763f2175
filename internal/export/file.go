package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
)

// Format is an export file format.
type Format string

const (
	CSV     Format = "csv"
	JSONL   Format = "jsonl"
	Parquet Format = "parquet"
)

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case CSV, JSONL, Parquet:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: use csv, jsonl or parquet", s)
}

// Scope is what an export reads: the StreamFeatures request fields that a
// resume token is bound to. A resumed export must ask for the same.
type Scope struct {
	ShopID       string     `json:"shop_id"`
	UpdatedSince *time.Time `json:"updated_since,omitempty"`
	CustomerIDs  []string   `json:"customer_ids,omitempty"`
}

// equal compares scopes as the server does: the customers as a set.
func (s Scope) equal(o Scope) bool {
	set := func(ids []string) []string {
		ids = slices.Clone(ids)
		slices.Sort(ids)
		return slices.Compact(ids)
	}
	sinceEqual := (s.UpdatedSince == nil) == (o.UpdatedSince == nil) &&
		(s.UpdatedSince == nil || s.UpdatedSince.Equal(*o.UpdatedSince))
	return s.ShopID == o.ShopID && sinceEqual && slices.Equal(set(s.CustomerIDs), set(o.CustomerIDs))
}

func (s Scope) String() string {
	out := "shop " + s.ShopID
	if s.UpdatedSince != nil {
		out += ", updated since " + s.UpdatedSince.UTC().Format(time.RFC3339Nano)
	}
	if len(s.CustomerIDs) > 0 {
		out += ", customers " + strings.Join(s.CustomerIDs, ",")
	}
	return out
}

// Options describe an export file.
type Options struct {
	Format Format
	Scope  Scope
	// RowGroupRows is the number of rows per Parquet row group, which is
	// also how many rows a resumed Parquet export may fetch again; default
	// 100,000.
	RowGroupRows int
	// CheckpointInterval is how often a CSV or JSON lines export records its
	// progress (and syncs the file); default one second. A resume after a
	// crash fetches again the rows since the last checkpoint; after an
	// orderly stop (Close) it fetches nothing twice.
	CheckpointInterval time.Duration
}

const (
	defaultRowGroupRows       = 100_000
	defaultCheckpointInterval = time.Second
	stateVersion              = 1
)

// state is what the sidecar file beside an unfinished export records at
// each checkpoint.
type state struct {
	Version int    `json:"version"`
	Format  Format `json:"format"`
	Scope   Scope  `json:"scope"`
	// ResumeToken continues the stream after the last row the file holds
	// up to Position; empty: from the beginning.
	ResumeToken string `json:"resume_token"`
	Rows        int64  `json:"rows"`
	// Position is where the checkpointed content ends: the byte length of
	// a CSV or JSON lines output, the number of closed Parquet parts.
	Position int64 `json:"position"`
	// Complete says that the stream has ended and only the file's last
	// step (joining Parquet parts) may be missing.
	Complete bool `json:"complete,omitempty"`
}

// StatePath is the sidecar file that records an unfinished export of
// output. It exists from the start of an export to its end.
func StatePath(output string) string { return output + ".export-state" }

// sink stores the rows of one format. write and sync return the resume
// position when the rows written so far became durable in that call, and
// -1 when write left them pending.
type sink interface {
	write(recs []*featurestorev1.FeatureRecord) (int64, error)
	sync() (int64, error)
	// finish completes the output once the stream has ended.
	finish() error
	// close releases the sink without completing the output.
	close() error
	// discard closes the sink and removes what it wrote.
	discard() error
}

// File is an export being written: the output, its format's sink, and the
// sidecar state through which an interrupted export resumes.
type File struct {
	path   string
	state  state // as last recorded
	sink   sink
	token  string // after the last batch written
	rows   int64  // rows written, recorded or not
	closed bool
	// failed is set when a batch may have been written in part: nothing
	// written after the last checkpoint may be recorded then.
	failed bool
}

func (o *Options) setDefaults() {
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = defaultRowGroupRows
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = defaultCheckpointInterval
	}
}

// Create starts a new export at path. It replaces a finished file there:
// at once for CSV and JSON lines, once the export finishes for Parquet. It
// refuses when path holds an unfinished export, which Resume continues.
func Create(path string, opts Options) (*File, error) {
	opts.setDefaults()
	if _, err := os.Stat(StatePath(path)); err == nil {
		return nil, fmt.Errorf("%s holds an unfinished export (see %s): continue it with --resume, or delete that file to start over", path, StatePath(path))
	}
	f := &File{path: path, state: state{Version: stateVersion, Format: opts.Format, Scope: opts.Scope}}
	var err error
	switch opts.Format {
	case CSV, JSONL:
		f.sink, f.state.Position, err = createLineSink(path, opts)
	case Parquet:
		if err = os.RemoveAll(partsDir(path)); err == nil {
			f.sink, err = openParquetSink(path, 0, opts.RowGroupRows)
		}
	default:
		err = fmt.Errorf("unknown format %q", opts.Format)
	}
	if err != nil {
		return nil, err
	}
	if err := f.saveState(); err != nil {
		f.sink.close()
		return nil, err
	}
	return f, nil
}

func lineFormatOf(f Format) lineFormat {
	if f == CSV {
		return csvFormat{}
	}
	return newJSONLFormat()
}

func createLineSink(path string, opts Options) (sink, int64, error) {
	format := lineFormatOf(opts.Format)
	file, err := os.Create(path)
	if err != nil {
		return nil, 0, fmt.Errorf("create output: %w", err)
	}
	header := format.header()
	if _, err := file.Write(header); err != nil {
		file.Close()
		return nil, 0, fmt.Errorf("write %s: %w", path, err)
	}
	s := newLineSink(format, file, int64(len(header)), opts.CheckpointInterval)
	pos, err := s.sync()
	if err != nil {
		file.Close()
		return nil, 0, err
	}
	return s, pos, nil
}

// Resume reopens the unfinished export at path to continue it with the
// stream that Token names. opts must name the format and scope the export
// was started with. The output is cut back to its last checkpoint, which
// drops a partly written row and any row written after it.
func Resume(path string, opts Options) (*File, error) {
	opts.setDefaults()
	b, err := os.ReadFile(StatePath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("nothing to resume at %s: %s does not exist, so the export there finished or never started", path, StatePath(path))
	}
	if err != nil {
		return nil, fmt.Errorf("read export state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Version != stateVersion {
		return nil, fmt.Errorf("%s is not an export state this version reads; delete it and %s to start over", StatePath(path), path)
	}
	if st.Format != opts.Format {
		return nil, fmt.Errorf("the export at %s was started with format %s, not %s", path, st.Format, opts.Format)
	}
	if !st.Scope.equal(opts.Scope) {
		return nil, fmt.Errorf("the export at %s was started for %s; resume it with the same shop and filters", path, st.Scope)
	}
	f := &File{path: path, state: st, token: st.ResumeToken, rows: st.Rows}
	switch st.Format {
	case CSV, JSONL:
		f.sink, err = reopenLineSink(path, st.Position, opts)
	case Parquet:
		f.sink, err = openParquetSink(path, st.Position, opts.RowGroupRows)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

func reopenLineSink(path string, size int64, opts Options) (sink, error) {
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open output: %w", err)
	}
	info, err := file.Stat()
	if err == nil && info.Size() < size {
		err = fmt.Errorf("%s has %d bytes, fewer than the %d its last checkpoint recorded: it was changed since, so it cannot be resumed", path, info.Size(), size)
	}
	if err == nil {
		err = file.Truncate(size)
	}
	if err == nil {
		_, err = file.Seek(size, 0)
	}
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("reopen %s: %w", path, err)
	}
	return newLineSink(lineFormatOf(opts.Format), file, size, opts.CheckpointInterval), nil
}

// Token is the resume token to continue the stream with: empty to start
// from the beginning.
func (f *File) Token() string { return f.token }

// Rows is the number of rows in the output so far.
func (f *File) Rows() int64 { return f.rows }

// Complete says that the stream has already ended: only Finish remains.
func (f *File) Complete() bool { return f.state.Complete }

// Write appends a batch of records and the token that continues after it,
// recording a checkpoint when the format's policy says so.
func (f *File) Write(recs []*featurestorev1.FeatureRecord, token string) error {
	if len(recs) == 0 {
		return nil
	}
	pos, err := f.sink.write(recs)
	if err != nil {
		f.failed = true
		return err
	}
	f.rows += int64(len(recs))
	f.token = token
	if pos < 0 {
		return nil
	}
	return f.checkpoint(pos)
}

func (f *File) checkpoint(pos int64) error {
	f.state.ResumeToken, f.state.Rows, f.state.Position = f.token, f.rows, pos
	return f.saveState()
}

// Finish completes the output after the stream has ended and removes the
// export's state.
func (f *File) Finish() error {
	if f.failed {
		return errors.New("finish export: a batch failed to be written")
	}
	if err := f.markComplete(); err != nil {
		return err
	}
	f.closed = true
	if err := f.sink.finish(); err != nil {
		return err
	}
	if err := os.Remove(StatePath(f.path)); err != nil {
		return fmt.Errorf("remove export state: %w", err)
	}
	return syncDir(filepath.Dir(f.path))
}

// markComplete records that the stream has ended with the rows written,
// so that an export stopped while its output is being completed resumes
// with that step alone.
func (f *File) markComplete() error {
	pos, err := f.sink.sync()
	if err != nil {
		return err
	}
	f.state.Complete = true
	return f.checkpoint(pos)
}

// Close stops an export without finishing it: it records every row written
// so far, so that Resume continues right after them. After a failed Write
// it records nothing more, and Resume continues after the last checkpoint.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if f.failed {
		return f.sink.close()
	}
	pos, err := f.sink.sync()
	if err == nil {
		err = f.checkpoint(pos)
	}
	return errors.Join(err, f.sink.close())
}

// Discard stops an export and removes what it wrote and its state; a
// finished Parquet file that the export was to replace stays. An export
// that failed before its first row has nothing worth resuming, and leaving
// it would make the next plain run refuse to start.
func (f *File) Discard() error {
	f.closed = true
	err := f.sink.discard()
	if rerr := os.Remove(StatePath(f.path)); rerr != nil {
		err = errors.Join(err, fmt.Errorf("remove export state: %w", rerr))
	}
	return err
}

// saveState replaces the sidecar state atomically: written to a temporary
// file, synced, renamed over the old one.
func (f *File) saveState() error {
	b, err := json.MarshalIndent(f.state, "", "  ")
	if err != nil {
		return fmt.Errorf("encode export state: %w", err)
	}
	path := StatePath(f.path)
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("save export state: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("save export state: %w", err)
	}
	return syncDir(filepath.Dir(path))
}
