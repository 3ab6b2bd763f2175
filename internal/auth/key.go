package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// Prefix starts every key, so that a key is recognisable in a leak (secret
// scanners match it) and a mistyped credential is told apart from a wrong
// one.
const Prefix = "fsk_"

// AllShops, as a key's only shop, lets it act on every shop.
const AllShops = "*"

// idBytes and secretBytes size a key's two parts: the id only has to be
// unique (the table's primary key enforces it), the secret must be
// unguessable.
const (
	idBytes     = 6
	secretBytes = 32
)

// encoding writes key parts in lower-case base32 without padding: no
// characters that URLs, shells or the key's own separator treat specially.
var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func encode(b []byte) string { return strings.ToLower(encoding.EncodeToString(b)) }

var (
	idLength     = len(encode(make([]byte, idBytes)))
	secretLength = len(encode(make([]byte, secretBytes)))
)

// NewSecret returns a new key: its public id, and the whole secret
// fsk_<id>_<random> that is shown to its owner once and never stored.
func NewSecret() (id, secret string, err error) {
	b := make([]byte, idBytes+secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("random key: %w", err)
	}
	id = encode(b[:idBytes])
	return id, Prefix + id + "_" + encode(b[idBytes:]), nil
}

// keyID returns the id of a secret that has the form of a key, and false
// for anything else.
func keyID(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, Prefix)
	if !ok || len(rest) != idLength+1+secretLength || rest[idLength] != '_' {
		return "", false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if i != idLength && !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return "", false
		}
	}
	return rest[:idLength], true
}

// HashSecret is what is stored of a secret: its SHA-256.
//
// A plain SHA-256, rather than a keyed hash (HMAC with a pepper) or a slow
// password hash (argon2id, bcrypt), is the standard choice for secrets of
// 256 random bits: what a slow hash or a pepper protects against is
// guessing, and no guess of a 2^256 space succeeds, so a copy of the table
// gives an attacker no key either way. A slow hash would instead cost every
// uncached check tens of milliseconds of CPU, and a pepper would be one more
// secret that every server and the keys command must share, with a
// rotation of its own.
func HashSecret(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }
