package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// countingStore counts the lookups that reach the store, and can fail
// them.
type countingStore struct {
	*store.Store
	lookups atomic.Int64
	fail    atomic.Bool
}

func (c *countingStore) KeyByID(ctx context.Context, id string) (store.APIKey, error) {
	c.lookups.Add(1)
	if c.fail.Load() {
		return store.APIKey{}, fmt.Errorf("read api key: %w", store.ErrUnavailable)
	}
	return c.Store.KeyByID(ctx, id)
}

// createKey stores a new key and returns its secret.
func createKey(t *testing.T, st *store.Store, name string, shops, scopes []string, expires *time.Time) string {
	t.Helper()
	id, secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	hash := HashSecret(secret)
	if _, _, err := st.CreateKey(context.Background(), store.APIKey{ID: id, Name: name, SecretHash: hash[:], Shops: shops, Scopes: scopes, ExpiresAt: expires}, false); err != nil {
		t.Fatalf("create key %s: %v", name, err)
	}
	return secret
}

// clock is a settable time.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

func newTestVerifier(t *testing.T, cfg Config) (*Verifier, *countingStore, *clock) {
	t.Helper()
	pool, _ := testenv.Postgres(t)
	ks := &countingStore{Store: store.New(pool)}
	v, err := NewVerifier(ks, cfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	c.set(time.Now())
	v.now = c.now
	return v, ks, c
}

func TestVerify(t *testing.T) {
	t.Parallel()
	v, ks, _ := newTestVerifier(t, Config{})
	ctx := context.Background()
	past := time.Now().Add(-time.Hour)
	future := time.Now().Add(time.Hour)
	valid := createKey(t, ks.Store, "reader", []string{"shop-b", "shop-a"}, []string{"read", "export"}, &future)
	all := createKey(t, ks.Store, "admin", []string{"*"}, []string{"read", "export", "compute", "ingest"}, nil)
	expired := createKey(t, ks.Store, "old", []string{"shop-a"}, []string{"read"}, &past)
	revoked := createKey(t, ks.Store, "gone", []string{"shop-a"}, []string{"read"}, nil)
	if _, err := ks.RevokeKey(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	_, unknown, _ := NewSecret()
	tampered := valid[:len(valid)-1] + map[bool]string{true: "b", false: "a"}[valid[len(valid)-1] == 'a']

	for _, tc := range []struct {
		name, secret string
		reason       Reason
		message      string
	}{
		{"no key", "", ReasonKeyMissing, "this call needs an API key"},
		{"malformed", "not-a-key", ReasonKeyInvalid, "the API key is malformed"},
		{"unknown", unknown, ReasonKeyInvalid, "no key has this secret"},
		{"another secret for a known id", tampered, ReasonKeyInvalid, "no key has this secret"},
		{"expired", expired, ReasonKeyExpired, "the API key expired at " + past.UTC().Format(time.RFC3339)},
		{"revoked", revoked, ReasonKeyRevoked, "the API key was revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := v.Verify(ctx, tc.secret)
			e, ok := AsError(err)
			if !ok || e.Reason != tc.reason || !e.Unauthenticated() {
				t.Fatalf("Verify = %v, %v; want a refusal %s", key, err, tc.reason)
			}
			if !strings.Contains(e.Message, tc.message) {
				t.Errorf("message %q, want it to say %q", e.Message, tc.message)
			}
		})
	}

	key, err := v.Verify(ctx, valid)
	if err != nil {
		t.Fatalf("Verify(valid) = %v", err)
	}
	if key.Name != "reader" || key.Scopes != ScopeRead|ScopeExport || !key.ExpiresAt.Equal(future.Truncate(time.Microsecond)) ||
		fmt.Sprint(key.Shops()) != "[shop-a shop-b]" {
		t.Errorf("key = %+v, shops %v", key, key.Shops())
	}
	for _, tc := range []struct {
		scope Scope
		shops []string
		want  Reason
	}{
		{ScopeRead, []string{"shop-a"}, ""},
		{ScopeExport, []string{"shop-b", "shop-a"}, ""},
		{ScopeRead, nil, ""},
		{ScopeCompute, []string{"shop-a"}, ReasonScopeMissing},
		{ScopeRead, []string{"shop-a", "shop-c"}, ReasonShopDenied},
	} {
		err := key.Authorize(tc.scope, "the call", tc.shops...)
		e, _ := AsError(err)
		switch {
		case tc.want == "" && err != nil, tc.want != "" && (e == nil || e.Reason != tc.want || e.Unauthenticated()):
			t.Errorf("Authorize(%s, %v) = %v, want %q", tc.scope, tc.shops, err, tc.want)
		}
	}
	if err := key.Authorize(ScopeCompute, "ComputeFeatures", "shop-a"); err == nil ||
		err.Error() != `API key "reader" lacks the scope compute, which ComputeFeatures needs (its scopes: read,export)` {
		t.Errorf("missing scope: %v", err)
	}
	if err := key.Authorize(ScopeRead, "GetFeatures", "shop-c"); err == nil || err.Error() != `API key "reader" does not cover shop "shop-c"` {
		t.Errorf("other shop: %v", err)
	}
	admin, err := v.Verify(ctx, all)
	if err != nil || admin.Authorize(ScopeIngest|ScopeCompute, "x", "any-shop", "another") != nil || fmt.Sprint(admin.Shops()) != "[*]" {
		t.Errorf("a key of every shop: %+v, %v", admin, err)
	}
}

// TestVerifyCache checks that a key is read from the store once per
// CacheTTL, and that a revocation takes effect when the remembered check
// ends, not before and not later.
func TestVerifyCache(t *testing.T) {
	t.Parallel()
	v, ks, clk := newTestVerifier(t, Config{CacheTTL: 5 * time.Second})
	ctx := context.Background()
	secret := createKey(t, ks.Store, "k", []string{"shop-a"}, []string{"read"}, nil)
	if _, err := v.Verify(ctx, secret); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if n := ks.lookups.Load(); n != 1 {
		t.Errorf("%d store lookups for 11 checks within the cache time, want 1", n)
	}
	if _, err := ks.RevokeKey(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	clk.add(5*time.Second - time.Millisecond)
	if _, err := v.Verify(ctx, secret); err != nil {
		t.Errorf("within the cache time the remembered check holds: %v", err)
	}
	clk.add(time.Millisecond)
	if _, err := v.Verify(ctx, secret); !isReason(err, ReasonKeyRevoked) {
		t.Errorf("after the cache time: %v, want the key revoked", err)
	}

	// Unknown keys are remembered too, so guessing costs one lookup each.
	_, unknown, _ := NewSecret()
	before := ks.lookups.Load()
	for range 3 {
		if _, err := v.Verify(ctx, unknown); !isReason(err, ReasonKeyInvalid) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if n := ks.lookups.Load() - before; n != 1 {
		t.Errorf("%d lookups for an unknown key checked 3 times, want 1", n)
	}

	// A database that does not answer is not a refusal, and is not
	// remembered.
	other := createKey(t, ks.Store, "other", []string{"shop-a"}, []string{"read"}, nil)
	ks.fail.Store(true)
	if _, err := v.Verify(ctx, other); err == nil || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("store down: %v, want ErrUnavailable", err)
	} else if _, ok := AsError(err); ok {
		t.Fatalf("store down answered as a refusal: %v", err)
	}
	ks.fail.Store(false)
	if _, err := v.Verify(ctx, other); err != nil {
		t.Errorf("store back: %v", err)
	}
}

func isReason(err error, r Reason) bool {
	e, ok := AsError(err)
	return ok && e.Reason == r
}

func TestVerifyBoundsRefusals(t *testing.T) {
	t.Parallel()
	v, _, _ := newTestVerifier(t, Config{MaxRefused: 5})
	for range 23 {
		_, unknown, _ := NewSecret()
		if _, err := v.Verify(context.Background(), unknown); !isReason(err, ReasonKeyInvalid) {
			t.Fatal(err)
		}
		if n := len(v.refused); n > 5 {
			t.Fatalf("%d refusals remembered, bound 5", n)
		}
	}
}

func TestNewVerifierRejectsLongCache(t *testing.T) {
	t.Parallel()
	for _, ttl := range []time.Duration{-time.Second, MaxCacheTTL + time.Millisecond} {
		if _, err := NewVerifier(nil, Config{CacheTTL: ttl}, testenv.Logger()); err == nil || !strings.Contains(err.Error(), "at most 10s") {
			t.Errorf("CacheTTL %s: %v, want an error naming the bound", ttl, err)
		}
	}
}

// TestRecordsLastUse checks that Run writes when keys were used, without
// moving a later time back.
func TestRecordsLastUse(t *testing.T) {
	t.Parallel()
	v, ks, clk := newTestVerifier(t, Config{TouchInterval: time.Hour})
	ctx := context.Background()
	secret := createKey(t, ks.Store, "k", []string{"shop-a"}, []string{"read"}, nil)
	used := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk.set(used)
	if _, err := v.Verify(ctx, secret); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { v.Run(runCtx); close(done) }()
	cancel()
	<-done
	keys, err := ks.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].LastUsedAt == nil || !keys[0].LastUsedAt.Equal(used) {
		t.Fatalf("last_used_at = %v, want %s", keys[0].LastUsedAt, used)
	}
	if err := ks.TouchKeys(ctx, map[string]time.Time{keys[0].ID: used.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	keys, _ = ks.ListKeys(ctx)
	if !keys[0].LastUsedAt.Equal(used) {
		t.Errorf("an older use moved last_used_at back to %s", keys[0].LastUsedAt)
	}
}
