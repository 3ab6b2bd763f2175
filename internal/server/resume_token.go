package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"slices"
	"time"

	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
)

// A resume token names the last pair a StreamFeatures batch carried and the
// request it belongs to. It holds no server state, so any server process on
// the same database can continue from it, and it stays valid across
// restarts and upgrades that keep its version.
//
// Layout, before URL-safe base64 without padding:
//
//	version   1 byte, resumeTokenVersion
//	scope     16 bytes, streamScope of the request that produced it
//	customer  uvarint length, then the bytes of the last pair's customer_id
//	product   uvarint length, then the bytes of the last pair's product_id
//	check     8 bytes, the first bytes of SHA-256 of everything before
//
// The check catches corrupted and hand-made tokens. It is not a secret: a
// token forged with a correct check can only name a position in a shop its
// bearer may read from the start anyway.
const (
	resumeTokenVersion = 1
	scopeLen           = 16
	checkLen           = 8
	// maxKeyLen is the longest id the table holds in bytes: varchar(255)
	// counts characters, of up to four bytes each.
	maxKeyLen = 4 * invalid.MaxIDLength
	// maxResumeTokenLen bounds the text a decoder accepts: the encoding of
	// the largest token.
	maxResumeTokenLen = (1 + scopeLen + 2*(2+maxKeyLen) + checkLen + 2) / 3 * 4
)

var tokenEncoding = base64.RawURLEncoding.Strict()

// streamScope identifies what a StreamFeatures request selects: its shop and
// filters, but not its batch size, which a resumed export may change. The
// customer set is sorted and deduplicated, so that the same set in another
// order is the same scope.
type streamScope [scopeLen]byte

func newStreamScope(shopID string, updatedSince time.Time, customerIDs []string) streamScope {
	customers := slices.Clone(customerIDs)
	slices.Sort(customers)
	customers = slices.Compact(customers)
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.AppendUvarint(nil, uint64(len(b))))
		h.Write(b)
	}
	field([]byte("featurestore.v1.StreamFeatures stored rows"))
	field([]byte(shopID))
	var since []byte
	if !updatedSince.IsZero() {
		since = binary.BigEndian.AppendUint64(nil, uint64(updatedSince.Unix()))
		since = binary.BigEndian.AppendUint32(since, uint32(updatedSince.Nanosecond()))
	}
	field(since)
	h.Write(binary.AppendUvarint(nil, uint64(len(customers))))
	for _, c := range customers {
		field([]byte(c))
	}
	var s streamScope
	copy(s[:], h.Sum(nil))
	return s
}

// resumeToken is the decoded form of a resume token.
type resumeToken struct {
	scope streamScope
	after store.PairKey
}

func (t resumeToken) encode() string {
	b := make([]byte, 0, 1+scopeLen+2*binary.MaxVarintLen16+len(t.after.CustomerID)+len(t.after.ProductID)+checkLen)
	b = append(b, resumeTokenVersion)
	b = append(b, t.scope[:]...)
	b = binary.AppendUvarint(b, uint64(len(t.after.CustomerID)))
	b = append(b, t.after.CustomerID...)
	b = binary.AppendUvarint(b, uint64(len(t.after.ProductID)))
	b = append(b, t.after.ProductID...)
	sum := sha256.Sum256(b)
	b = append(b, sum[:checkLen]...)
	return tokenEncoding.EncodeToString(b)
}

// errBadToken is the answer to every token that does not decode: the caller
// can do nothing with finer detail but drop the token.
func errBadToken() error {
	return tokenError("is not a token this service issued, or was altered; pass a resume_token exactly as a StreamFeatures response carried it, or omit it to start from the beginning")
}

// tokenError is an invalid resume_token, answered with the reason
// RESUME_TOKEN_INVALID.
func tokenError(format string, args ...any) error {
	return withReason(ReasonResumeTokenInvalid, invalid.Field("resume_token", format, args...))
}

// decodeResumeToken parses a token that encode produced. It checks the
// token's integrity, not its scope: the caller compares that with the
// request's.
func decodeResumeToken(s string) (resumeToken, error) {
	var t resumeToken
	if len(s) > maxResumeTokenLen {
		return t, errBadToken()
	}
	b, err := tokenEncoding.DecodeString(s)
	// The decoder skips line breaks; a token has one text only.
	if err != nil || len(b) < 1+scopeLen+2+checkLen || tokenEncoding.EncodedLen(len(b)) != len(s) {
		return t, errBadToken()
	}
	body, check := b[:len(b)-checkLen], b[len(b)-checkLen:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:checkLen], check) {
		return t, errBadToken()
	}
	if body[0] != resumeTokenVersion {
		return t, tokenError("has version %d, which this server does not read; restart the export without a token", body[0])
	}
	copy(t.scope[:], body[1:1+scopeLen])
	rest := body[1+scopeLen:]
	var ok bool
	if t.after.CustomerID, rest, ok = readKey(rest); !ok {
		return t, errBadToken()
	}
	if t.after.ProductID, rest, ok = readKey(rest); !ok || len(rest) != 0 {
		return t, errBadToken()
	}
	return t, nil
}

// readKey reads one length-prefixed id from b and returns the rest.
func readKey(b []byte) (string, []byte, bool) {
	n, size := binary.Uvarint(b)
	if size <= 0 || n > maxKeyLen || uint64(len(b)-size) < n {
		return "", nil, false
	}
	// A length written in more bytes than needed would make two texts of
	// one token; encode never writes one.
	if size != len(binary.AppendUvarint(nil, n)) {
		return "", nil, false
	}
	return string(b[size : size+int(n)]), b[size+int(n):], true
}
