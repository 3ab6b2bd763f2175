package cache

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
)

// completeField is the hash field that marks a customer's hash complete. No
// product id is empty, so it cannot collide with a product's field.
const completeField = ""

// pendingField marks a hash that a reader is about to fill. Postgres text
// cannot hold a NUL, so no product id collides with it.
const pendingField = "\x00pending"

// stampLen is the length of a value's timestamp prefix.
const stampLen = 16

// Key returns the hash key of one (shop, customer): keyPrefix, then the
// customer id and the closing brace.
func Key(shopID, customerID string) string {
	return keyPrefix(shopID) + customerID + "}"
}

// shopEscaper escapes the separator in shop ids, so that ("a|b", "c") and
// ("a", "b|c") get different keys; ordinary ids are unchanged.
var shopEscaper = strings.NewReplacer(`\`, `\\`, `|`, `\|`)

// keyPrefix is the part of a key that names the shop: every customer of
// the shop shares it.
func keyPrefix(shopID string) string {
	return "fs:v" + strconv.Itoa(features.Version) + ":{" + shopEscaper.Replace(shopID) + "|"
}

// stamp formats t as the fixed-width prefix that the Lua script compares.
func stamp(t time.Time) string { return fmt.Sprintf("%016d", t.UnixMicro()) }

// valueFormat follows the timestamp of a value in the current format:
// then come the row's dense values (protoconv.DenseLen bytes, what a
// matrix answer splices in) and the encoded record, every feature present
// (0 included). It starts with a NUL, which no protobuf field starts with:
// a value of the earlier format (the timestamp, then a record that left
// out features equal to 0) is told apart by its absence and re-encoded as
// it is read, and a process of the earlier format reading a current value
// finds it malformed and reads Postgres instead. Neither serves a wrong
// answer.
const valueFormat = "\x00\x02"

// encodeValue returns the cached form of a record computed at computedAt.
func encodeValue(rec stampedRecord) string {
	return stamp(rec.computedAt) + valueFormat + rec.dense + string(rec.enc)
}

// tombstone is the value that records the removal of a pair at t.
func tombstone(t time.Time) string { return stamp(t) }

var errBadValue = errors.New("malformed cached value")

// decodeValue returns the record a cached value holds: Encoded, Dense and
// ComputedAtMicros, or an empty record for a tombstone.
func decodeValue(v string) (store.Record, error) {
	if len(v) < stampLen {
		return store.Record{}, fmt.Errorf("%w: %d bytes", errBadValue, len(v))
	}
	var micros int64
	for _, c := range v[:stampLen] {
		if c < '0' || c > '9' {
			return store.Record{}, fmt.Errorf("%w: bad stamp", errBadValue)
		}
		micros = micros*10 + int64(c-'0')
	}
	rest := v[stampLen:]
	if rest == "" {
		return store.Record{}, nil
	}
	if format, ok := strings.CutPrefix(rest, valueFormat); ok {
		if len(format) < protoconv.DenseLen {
			return store.Record{}, fmt.Errorf("%w: %d bytes of dense values, want %d", errBadValue, len(format), protoconv.DenseLen)
		}
		enc := protoconv.EncodedRecord(format[protoconv.DenseLen:])
		if enc == "" || !enc.Valid() {
			return store.Record{}, fmt.Errorf("%w: bad record", errBadValue)
		}
		return store.Record{Encoded: string(enc), Dense: format[:protoconv.DenseLen], ComputedAtMicros: micros}, nil
	}
	// The earlier format: re-encode the record.
	enc, dense, err := protoconv.EncodedRecord(rest).Upgrade()
	if err != nil {
		return store.Record{}, fmt.Errorf("%w: %w", errBadValue, err)
	}
	return store.Record{Encoded: string(enc), Dense: dense, ComputedAtMicros: micros}, nil
}
