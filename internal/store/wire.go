package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// The ordered scan decodes Postgres' binary wire format itself: it reads
// millions of rows per run, and pgx's generic Scan would allocate for every
// value. Queries cast each column to the type decoded here and ask for binary
// results, so these are the only encodings that can arrive.

// pgEpochSeconds is 2000-01-01T00:00:00Z, Postgres' timestamp epoch, in
// Unix seconds.
const pgEpochSeconds = 946_684_800

var errWireLength = errors.New("unexpected value length")

// decodeTimestamptz decodes a binary timestamptz (microseconds since
// 2000-01-01 UTC). The infinities map to the extremes of time.Time that
// still compare correctly.
func decodeTimestamptz(b []byte) (time.Time, error) {
	if len(b) != 8 {
		return time.Time{}, fmt.Errorf("timestamptz: %w (%d bytes)", errWireLength, len(b))
	}
	micros := int64(binary.BigEndian.Uint64(b))
	switch micros {
	case math.MaxInt64:
		return time.Date(294276, 1, 1, 0, 0, 0, 0, time.UTC), nil
	case math.MinInt64:
		return time.Date(-4713, 1, 1, 0, 0, 0, 0, time.UTC), nil
	}
	// Seconds and microseconds apart: the Unix microseconds of the last
	// thirty years of Postgres' range do not fit in an int64.
	sec, usec := micros/1_000_000, micros%1_000_000
	if usec < 0 {
		sec, usec = sec-1, usec+1_000_000
	}
	return time.Unix(sec+pgEpochSeconds, usec*1000).UTC(), nil
}

// decodeFloat8 decodes a binary double precision value.
func decodeFloat8(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("float8: %w (%d bytes)", errWireLength, len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// decodeInt8 decodes a binary bigint.
func decodeInt8(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("int8: %w (%d bytes)", errWireLength, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// interner returns one shared string per distinct categorical value, so a
// scan allocates once per value rather than once per row. It stops growing
// at maxInterned entries, so a column of unique values costs no more memory
// than plain strings would.
type interner struct {
	m map[string]string
}

const maxInterned = 4096

func newInterner() *interner { return &interner{m: make(map[string]string, 64)} }

func (in *interner) intern(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < maxInterned {
		in.m[s] = s
	}
	return s
}
