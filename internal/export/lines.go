package export

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
)

// timeLayout writes instants in UTC with a fixed six-digit fraction, the
// precision Postgres keeps: one pattern for every value, which the date
// inference of pandas and Polars needs.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// lineFormat encodes rows as lines of text.
type lineFormat interface {
	// header is what a new file starts with.
	header() []byte
	// appendRow appends one row, line end included.
	appendRow(dst []byte, row []value) []byte
}

// csvFormat is RFC 4180 CSV with a header line and LF line ends. NULL is
// an empty field; an empty string is "" so that it stays distinct.
type csvFormat struct{}

func (csvFormat) header() []byte {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.Name
	}
	return []byte(strings.Join(names, ",") + "\n")
}

func (csvFormat) appendRow(dst []byte, row []value) []byte {
	for i, v := range row {
		if i > 0 {
			dst = append(dst, ',')
		}
		if v.null {
			continue
		}
		switch columns[i].Type {
		case features.TypeInt:
			dst = strconv.AppendInt(dst, v.i, 10)
		case features.TypeFloat:
			dst = appendFloat(dst, v.f)
		case features.TypeTimestamp:
			dst = v.t.UTC().AppendFormat(dst, timeLayout)
		case features.TypeString:
			dst = appendCSVString(dst, v.s)
		}
	}
	return append(dst, '\n')
}

func appendCSVString(dst []byte, s string) []byte {
	if s != "" && !strings.ContainsAny(s, ",\"\r\n") && s[0] != ' ' && s[len(s)-1] != ' ' {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		dst = append(dst, s[:i+1]...)
		dst = append(dst, '"')
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendFloat writes the shortest text that reads back as f, always with a
// fraction or an exponent, so that readers that infer a column's type from
// its first rows do not take a float column for an integer one.
func appendFloat(dst []byte, f float64) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	if !bytes.ContainsAny(dst[start:], ".eIN") {
		dst = append(dst, ".0"...)
	}
	return dst
}

// jsonlFormat is one JSON object per line, keys in column order, NULL as
// null and instants as RFC 3339 strings. Floats that JSON cannot hold
// (NaN, infinities), which no feature formula produces, are written as
// null.
type jsonlFormat struct {
	// keys are the `"name":` prefixes of the columns, preceded by the
	// separator that comes before each.
	keys [][]byte
}

func newJSONLFormat() jsonlFormat {
	keys := make([][]byte, len(columns))
	for i, c := range columns {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		keys[i] = appendJSONString([]byte(sep), c.Name)
		keys[i] = append(keys[i], ':')
	}
	return jsonlFormat{keys: keys}
}

func (jsonlFormat) header() []byte { return nil }

func (f jsonlFormat) appendRow(dst []byte, row []value) []byte {
	for i, v := range row {
		dst = append(dst, f.keys[i]...)
		if v.null {
			dst = append(dst, "null"...)
			continue
		}
		switch columns[i].Type {
		case features.TypeInt:
			dst = strconv.AppendInt(dst, v.i, 10)
		case features.TypeFloat:
			if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
				dst = append(dst, "null"...)
			} else {
				dst = appendFloat(dst, v.f)
			}
		case features.TypeTimestamp:
			dst = append(dst, '"')
			dst = v.t.UTC().AppendFormat(dst, timeLayout)
			dst = append(dst, '"')
		case features.TypeString:
			dst = appendJSONString(dst, v.s)
		}
	}
	return append(dst, '}', '\n')
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD as
// encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

// lineSink writes a line format straight into the output file. Its resume
// position is the file's length at a checkpoint: every byte before it
// belongs to whole rows, so a resume truncates the file there, which drops
// a partly written last line and any row written after the checkpoint, and
// continues with the checkpoint's token.
type lineSink struct {
	format   lineFormat
	file     *os.File
	out      *bufio.Writer
	size     int64
	row      []value
	buf      []byte
	interval time.Duration
	synced   time.Time
}

func newLineSink(format lineFormat, file *os.File, size int64, interval time.Duration) *lineSink {
	return &lineSink{format: format, file: file, out: bufio.NewWriterSize(file, 256<<10), size: size, interval: interval, synced: time.Now()}
}

func (s *lineSink) write(recs []*featurestorev1.FeatureRecord) (int64, error) {
	buf := s.buf[:0]
	for _, rec := range recs {
		s.row = appendRow(s.row[:0], rec)
		buf = s.format.appendRow(buf, s.row)
	}
	s.buf = buf
	if _, err := s.out.Write(buf); err != nil {
		return -1, fmt.Errorf("write %s: %w", s.file.Name(), err)
	}
	s.size += int64(len(buf))
	if time.Since(s.synced) < s.interval {
		return -1, nil
	}
	return s.sync()
}

// sync writes out the buffer and makes the file durable, so that the
// position it returns can be recorded: a recorded position never lies past
// what the disk holds.
func (s *lineSink) sync() (int64, error) {
	if err := s.out.Flush(); err != nil {
		return -1, fmt.Errorf("write %s: %w", s.file.Name(), err)
	}
	if err := s.file.Sync(); err != nil {
		return -1, fmt.Errorf("sync %s: %w", s.file.Name(), err)
	}
	s.synced = time.Now()
	return s.size, nil
}

func (s *lineSink) finish() error {
	if _, err := s.sync(); err != nil {
		return err
	}
	return s.close()
}

func (s *lineSink) close() error {
	if err := s.file.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.file.Name(), err)
	}
	return nil
}

func (s *lineSink) discard() error {
	err := s.file.Close()
	if rerr := os.Remove(s.file.Name()); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return fmt.Errorf("discard %s: %w", s.file.Name(), err)
	}
	return nil
}
