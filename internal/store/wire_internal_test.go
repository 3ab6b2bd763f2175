package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/features"
)

// Postgres' binary encodings, written independently of the decoders for
// the tests to feed them.

func wireInt8(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
func wireInt4(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func wireFloat8(v float64) []byte {
	return binary.BigEndian.AppendUint64(nil, math.Float64bits(v))
}

// wireTimestamptz encodes t as microseconds since 2000-01-01 UTC.
func wireTimestamptz(t time.Time) []byte {
	return wireInt8((t.Unix()-946_684_800)*1_000_000 + int64(t.Nanosecond()/1000))
}

// wireRow encodes r as the columns of storedColumns, its integer features
// as bigint or, when int4 is set and they fit, as integer.
func wireRow(r *StoredRow, int4 bool) [][]byte {
	raw := [][]byte{[]byte(r.CustomerID), []byte(r.ProductID), wireTimestamptz(r.AsOf), wireTimestamptz(r.ComputedAt), wireInt4(r.Version)}
	for _, v := range r.Vector.AppendValues(nil) {
		switch x := v.(type) {
		case nil:
			raw = append(raw, nil)
		case int64:
			if int4 && x == int64(int32(x)) {
				raw = append(raw, wireInt4(int32(x)))
			} else {
				raw = append(raw, wireInt8(x))
			}
		case float64:
			raw = append(raw, wireFloat8(x))
		case time.Time:
			raw = append(raw, wireTimestamptz(x))
		case string:
			raw = append(raw, []byte(x))
		default:
			panic(fmt.Sprintf("no wire encoding for %T", v))
		}
	}
	return raw
}

// sameRow compares two rows value by value: floats by their bits, so that
// NaN equals NaN, and instants as instants.
func sameRow(a, b *StoredRow) bool {
	if a.CustomerID != b.CustomerID || a.ProductID != b.ProductID || !a.AsOf.Equal(b.AsOf) ||
		!a.ComputedAt.Equal(b.ComputedAt) || a.Version != b.Version {
		return false
	}
	av, bv := a.Vector.AppendValues(nil), b.Vector.AppendValues(nil)
	for i := range av {
		switch x := av[i].(type) {
		case float64:
			if y, ok := bv[i].(float64); !ok || math.Float64bits(x) != math.Float64bits(y) {
				return false
			}
		case time.Time:
			if y, ok := bv[i].(time.Time); !ok || !x.Equal(y) {
				return false
			}
		default:
			if av[i] != bv[i] {
				return false
			}
		}
	}
	return true
}

// randomRow returns a row with random values, each nullable feature NULL
// one time in four.
func randomRow(rng *rand.Rand) *StoredRow {
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(1e15)) * time.Microsecond)
	r := &StoredRow{CustomerID: fmt.Sprintf("gid://shopify/Customer/%d", rng.IntN(1000)),
		ProductID: fmt.Sprintf("gid://shopify/Product/%d", rng.Int64()), AsOf: at, ComputedAt: at.Add(time.Second), Version: features.Version}
	targets, finish := r.Vector.ScanTargets(nil)
	for _, target := range targets {
		null := rng.IntN(4) == 0
		switch p := target.(type) {
		case *int64:
			*p = rng.Int64N(1 << 40)
		case *float64:
			*p = rng.NormFloat64() * 1e3
		case **int64:
			if !null {
				v := rng.Int64N(1000)
				*p = &v
			}
		case **float64:
			if !null {
				v := rng.Float64()
				*p = &v
			}
		case **time.Time:
			if !null {
				v := at.Add(-time.Duration(rng.Int64N(1e16))).Truncate(time.Microsecond)
				*p = &v
			}
		case **string:
			if !null {
				v := []string{"mobile", "desktop", "tablet", "search", "social"}[rng.IntN(5)]
				*p = &v
			}
		default:
			panic(fmt.Sprintf("no random value for %T", target))
		}
	}
	finish()
	return r
}

// TestRowDecoderRoundTrip encodes random rows as Postgres does, with bigint
// and integer feature columns, and decodes them back.
func TestRowDecoderRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	d := newRowDecoder()
	for i := range 500 {
		want := randomRow(rng)
		got, err := d.decode(wireRow(want, i%2 == 0))
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if !sameRow(got, want) {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	raw := wireRow(randomRow(rng), false)
	for _, tc := range []struct {
		name string
		edit func([][]byte) [][]byte
	}{
		{"a column short", func(raw [][]byte) [][]byte { return raw[:len(raw)-1] }},
		{"NULL customer", func(raw [][]byte) [][]byte { raw[0] = nil; return raw }},
		{"NULL total_views", func(raw [][]byte) [][]byte { raw[storedKeyColumns] = nil; return raw }},
		{"short as_of", func(raw [][]byte) [][]byte { raw[2] = raw[2][:7]; return raw }},
		{"odd integer", func(raw [][]byte) [][]byte { raw[storedKeyColumns] = []byte{1, 2, 3}; return raw }},
	} {
		bad := tc.edit(append([][]byte(nil), raw...))
		if _, err := newRowDecoder().decode(bad); err == nil {
			t.Errorf("%s: decoded without an error", tc.name)
		}
	}
}

// timestamptzReference decodes a timestamptz by calendar arithmetic rather
// than by the decoder's: days since 2000-01-01, then the rest.
func timestamptzReference(micros int64) time.Time {
	switch micros {
	case math.MaxInt64:
		return time.Date(294276, 1, 1, 0, 0, 0, 0, time.UTC)
	case math.MinInt64:
		return time.Date(-4713, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	const day = 86_400_000_000
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(micros/day)).Add(time.Duration(micros%day) * time.Microsecond)
}

// FuzzWireDecoders feeds arbitrary bytes to each decoder of wire.go: a
// value decodes exactly when its length is right and then to what the
// encoding means, and a row, cut from the same bytes into columns, decodes
// without panicking and, when it decodes, to a row that survives encoding
// and decoding again.
func FuzzWireDecoders(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 4 {
		var seed []byte
		for _, col := range wireRow(randomRow(rng), true) {
			if col == nil {
				seed = append(seed, 0xff)
				continue
			}
			seed = append(seed, byte(len(col)))
			seed = append(seed, col...)
		}
		f.Add(seed)
	}
	f.Add(wireInt8(math.MaxInt64))
	f.Add(wireInt8(math.MaxInt64 - 1))
	f.Add(wireInt8(math.MinInt64 + 1))
	f.Add(wireInt4(-7))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := decodeInt8(b); (err == nil) != (len(b) == 8) || err == nil && v != int64(binary.BigEndian.Uint64(b)) {
			t.Errorf("decodeInt8(%x) = %d, %v", b, v, err)
		}
		if v, err := decodeInt(b); (err == nil) != (len(b) == 8 || len(b) == 4) ||
			len(b) == 4 && v != int64(int32(binary.BigEndian.Uint32(b))) {
			t.Errorf("decodeInt(%x) = %d, %v", b, v, err)
		}
		if v, err := decodeFloat8(b); (err == nil) != (len(b) == 8) || err == nil && math.Float64bits(v) != binary.BigEndian.Uint64(b) {
			t.Errorf("decodeFloat8(%x) = %v, %v", b, v, err)
		}
		ts, err := decodeTimestamptz(b)
		if (err == nil) != (len(b) == 8) {
			t.Errorf("decodeTimestamptz(%x): %v", b, err)
		}
		if err == nil {
			if want := timestamptzReference(int64(binary.BigEndian.Uint64(b))); !ts.Equal(want) || ts.Location() != time.UTC {
				t.Errorf("decodeTimestamptz(%x) = %s, want %s", b, ts, want)
			}
		}
		if s := newInterner().intern(b); s != string(b) {
			t.Errorf("intern(%x) = %q", b, s)
		}

		// The row: each column a length byte (0xff for NULL) and as many
		// bytes as there are, up to that length.
		var raw [][]byte
		for rest := b; len(rest) > 0 && len(raw) < storedKeyColumns+features.Count(); {
			n := int(rest[0])
			rest = rest[1:]
			if n == 0xff {
				raw = append(raw, nil)
				continue
			}
			n = min(n, len(rest))
			raw, rest = append(raw, rest[:n]), rest[n:]
		}
		got, err := newRowDecoder().decode(raw)
		if err != nil {
			return
		}
		first := *got
		again, err := newRowDecoder().decode(wireRow(&first, false))
		if err != nil || !sameRow(again, &first) {
			t.Errorf("decoded row %+v, encoded and decoded again: %+v, %v", first, again, err)
		}
	})
}

// BenchmarkRowDecoder decodes stored rows from their wire form, the work
// an export and a cache fill do for every row.
func BenchmarkRowDecoder(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	rows := make([][][]byte, 1024)
	for i := range rows {
		r := randomRow(rng)
		r.CustomerID = fmt.Sprintf("gid://shopify/Customer/%d", i/16) // rows come in customer order
		rows[i] = wireRow(r, true)
	}
	d := newRowDecoder()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := d.decode(rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
