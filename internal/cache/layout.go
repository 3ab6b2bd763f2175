package cache

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/protoconv"
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

// encodeValue returns the cached form of a record computed at computedAt.
func encodeValue(enc protoconv.EncodedRecord, computedAt time.Time) string {
	return stamp(computedAt) + string(enc)
}

// tombstone is the value that records the removal of a pair at t.
func tombstone(t time.Time) string { return stamp(t) }

var errBadValue = errors.New("malformed cached value")

// decodeValue returns the record a cached value holds, or "" for a
// tombstone.
func decodeValue(v string) (protoconv.EncodedRecord, error) {
	if len(v) < stampLen {
		return "", fmt.Errorf("%w: %d bytes", errBadValue, len(v))
	}
	for _, c := range v[:stampLen] {
		if c < '0' || c > '9' {
			return "", fmt.Errorf("%w: bad stamp", errBadValue)
		}
	}
	enc := protoconv.EncodedRecord(v[stampLen:])
	if !enc.Valid() {
		return "", fmt.Errorf("%w: bad record", errBadValue)
	}
	return enc, nil
}
