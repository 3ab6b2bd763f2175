package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/featurestore/featurestore/internal/store"
)

// KeyStore is where a Verifier reads keys; *store.Store implements it.
// KeyByID must return store.ErrKeyNotFound when no key has the id (revoked
// and expired keys are returned, not hidden), and an error wrapping
// store.ErrUnavailable when the database cannot answer. TouchKeys records
// when keys were last used and must never move a time backwards.
type KeyStore interface {
	KeyByID(ctx context.Context, id string) (store.APIKey, error)
	TouchKeys(ctx context.Context, used map[string]time.Time) error
}

var _ KeyStore = (*store.Store)(nil)

// DefaultCacheTTL is how long a Verifier remembers a checked key when
// Config leaves it zero; MaxCacheTTL is the longest it may be configured
// to: the time a revoked key may still be accepted.
const (
	DefaultCacheTTL = 5 * time.Second
	MaxCacheTTL     = 10 * time.Second
)

// Config adjusts a Verifier; zero fields take the defaults.
type Config struct {
	// CacheTTL is how long a key's check is remembered: DefaultCacheTTL
	// when zero, at most MaxCacheTTL. A key revoked or expiring within it
	// is refused at most CacheTTL later.
	CacheTTL time.Duration
	// MaxRefused bounds the remembered refusals of unknown keys, which
	// anyone can make up (10,000 when zero); beyond it they are forgotten.
	MaxRefused int
	// TouchInterval is how often Run records when keys were last used (a
	// minute when zero).
	TouchInterval time.Duration
}

// Verifier checks API keys, remembering each answer for CacheTTL.
type Verifier struct {
	keys   KeyStore
	cfg    Config
	logger *slog.Logger
	now    func() time.Time

	mu      sync.RWMutex
	known   map[[sha256.Size]byte]*entry // keys the store has, by the hash of their secret
	refused map[[sha256.Size]byte]time.Time
	usage   map[string]*atomic.Int64 // by key id: last use, Unix seconds
	lookups singleflight.Group
}

// entry is a remembered check of a key that exists.
type entry struct {
	key   *Key // nil when revoked
	until time.Time
}

// Key is a verified key: who the caller is and what it may do.
type Key struct {
	ID   string
	Name string
	// Scopes are what the key may do.
	Scopes Scope
	// Origins are the browser origins that may use a pixel key; empty
	// means the server's default policy.
	Origins []string
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time

	shops    []string // sorted; nil with allShops
	allShops bool
	lastUsed *atomic.Int64
}

// Shops returns the shops the key may act on, or ["*"] for every shop.
func (k *Key) Shops() []string {
	if k.allShops {
		return []string{AllShops}
	}
	return slices.Clone(k.shops)
}

// AllowsShop reports whether the key may act on shopID.
func (k *Key) AllowsShop(shopID string) bool {
	if k.allShops {
		return true
	}
	_, ok := slices.BinarySearch(k.shops, shopID)
	return ok
}

// Authorize returns nil when the key has scope and may act on every shop
// of shops, else an *Error naming what is missing; what names the call in
// the message, e.g. "StreamFeatures".
func (k *Key) Authorize(scope Scope, what string, shops ...string) error {
	if k.Scopes&scope != scope {
		missing := (scope &^ k.Scopes).String()
		return refuse(ReasonScopeMissing, map[string]string{"key": k.Name, "scope": missing},
			"API key %q lacks the scope %s, which %s needs (its scopes: %s)", k.Name, missing, what, k.Scopes)
	}
	for _, shop := range shops {
		if !k.AllowsShop(shop) {
			return refuse(ReasonShopDenied, map[string]string{"key": k.Name, "shop": shop},
				"API key %q does not cover shop %q", k.Name, shop)
		}
	}
	return nil
}

// NewVerifier returns a Verifier of the keys in keys.
func NewVerifier(keys KeyStore, cfg Config, logger *slog.Logger) (*Verifier, error) {
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.CacheTTL < 0 || cfg.CacheTTL > MaxCacheTTL {
		return nil, fmt.Errorf("key cache time %s: must be positive and at most %s, the longest a revoked key may keep working", cfg.CacheTTL, MaxCacheTTL)
	}
	if cfg.MaxRefused <= 0 {
		cfg.MaxRefused = 10_000
	}
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = time.Minute
	}
	return &Verifier{
		keys: keys, cfg: cfg, logger: logger, now: time.Now,
		known: map[[sha256.Size]byte]*entry{}, refused: map[[sha256.Size]byte]time.Time{}, usage: map[string]*atomic.Int64{},
	}, nil
}

// Verify returns the key whose secret is secret, or an *Error when there
// is none that works (missing, malformed, unknown, revoked or expired). An
// error that is not an *Error means the store could not be asked (it wraps
// store.ErrUnavailable when the database is down) or ctx ended.
func (v *Verifier) Verify(ctx context.Context, secret string) (*Key, error) {
	if secret == "" {
		return nil, errKeyMissing
	}
	id, ok := keyID(secret)
	if !ok {
		return nil, errMalformed
	}
	hash := HashSecret(secret)
	now := v.now()
	v.mu.RLock()
	e, known := v.known[hash]
	refusedUntil, refused := v.refused[hash]
	v.mu.RUnlock()
	switch {
	case known && now.Before(e.until):
		return v.use(e.key, now)
	case refused && now.Before(refusedUntil):
		return nil, errUnknown
	}
	ch := v.lookups.DoChan(string(hash[:]), func() (any, error) {
		// The lookup serves every caller waiting for it, so no one
		// caller's cancellation may end it.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return v.load(lctx, id, hash)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return v.use(res.Val.(*entry).key, v.now())
	}
}

// use returns key if it works at now, recording its use.
func (v *Verifier) use(key *Key, now time.Time) (*Key, error) {
	if key == nil {
		return nil, errRevoked
	}
	if !key.ExpiresAt.IsZero() && !now.Before(key.ExpiresAt) {
		return nil, refuse(ReasonKeyExpired, nil, "the API key expired at %s", key.ExpiresAt.UTC().Format(time.RFC3339))
	}
	// Skipping the store when the second has not changed keeps concurrent
	// calls with one key from contending for its cache line.
	if s := now.Unix(); key.lastUsed.Load() != s {
		key.lastUsed.Store(s)
	}
	return key, nil
}

// load reads the key with id from the store and remembers the result.
func (v *Verifier) load(ctx context.Context, id string, hash [sha256.Size]byte) (*entry, error) {
	stored, err := v.keys.KeyByID(ctx, id)
	if errors.Is(err, store.ErrKeyNotFound) {
		v.refuse(hash)
		return nil, errUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("check api key: %w", err)
	}
	if len(stored.SecretHash) != sha256.Size || subtle.ConstantTimeCompare(stored.SecretHash, hash[:]) != 1 {
		v.refuse(hash)
		return nil, errUnknown
	}
	e := &entry{until: v.now().Add(v.cfg.CacheTTL)}
	if stored.RevokedAt == nil {
		e.key = v.newKey(stored)
	}
	v.mu.Lock()
	v.known[hash] = e
	v.mu.Unlock()
	return e, nil
}

// newKey makes the verified form of a stored key.
func (v *Verifier) newKey(stored store.APIKey) *Key {
	scopes, err := ParseScopes(stored.Scopes)
	if err != nil {
		// The table's check constraint allows only known scopes; a newer
		// server's scope is not one this server can grant.
		v.logger.Warn("api key has a scope this server does not know; it is ignored", "key", stored.Name, "error", err)
	}
	k := &Key{ID: stored.ID, Name: stored.Name, Scopes: scopes, Origins: stored.Origins}
	if stored.ExpiresAt != nil {
		k.ExpiresAt = *stored.ExpiresAt
	}
	if slices.Contains(stored.Shops, AllShops) {
		k.allShops = true
	} else {
		k.shops = slices.Sorted(slices.Values(stored.Shops))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.usage[k.ID] == nil {
		v.usage[k.ID] = new(atomic.Int64)
	}
	k.lastUsed = v.usage[k.ID]
	return k
}

// refuse remembers that no key has the secret whose hash is hash. The
// refusals are bounded, since anyone can make up secrets: when full, the
// stale ones go, and if none is stale all go.
func (v *Verifier) refuse(hash [sha256.Size]byte) {
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.refused) >= v.cfg.MaxRefused {
		for h, until := range v.refused {
			if !now.Before(until) {
				delete(v.refused, h)
			}
		}
		if len(v.refused) >= v.cfg.MaxRefused {
			clear(v.refused)
		}
	}
	v.refused[hash] = now.Add(v.cfg.CacheTTL)
}

// Run records when keys were last used every TouchInterval, and once more
// when ctx ends, so that keys list shows which keys are in use without a
// write on any request.
func (v *Verifier) Run(ctx context.Context) {
	ticker := time.NewTicker(v.cfg.TouchInterval)
	defer ticker.Stop()
	flushed := map[string]int64{}
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			v.touch(fctx, flushed)
			cancel()
			return
		case <-ticker.C:
			v.touch(ctx, flushed)
		}
	}
}

// touch writes the use times that changed since the last write.
func (v *Verifier) touch(ctx context.Context, flushed map[string]int64) {
	used := map[string]time.Time{}
	v.mu.RLock()
	for id, at := range v.usage {
		if s := at.Load(); s != 0 && s != flushed[id] {
			used[id] = time.Unix(s, 0)
		}
	}
	v.mu.RUnlock()
	if err := v.keys.TouchKeys(ctx, used); err != nil {
		v.logger.WarnContext(ctx, "could not record when api keys were last used; will retry", "error", err)
		return
	}
	for id, at := range used {
		flushed[id] = at.Unix()
	}
}
