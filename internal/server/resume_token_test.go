package server

import (
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
)

func TestResumeTokenRoundTrip(t *testing.T) {
	t.Parallel()
	scope := newStreamScope("shop", time.Time{}, nil)
	// The longest id a varchar(255) holds: 255 characters of up to 4 bytes.
	long := strings.Repeat("😀", maxKeyLen/4)
	for _, after := range []store.PairKey{
		{CustomerID: "gid://shopify/Customer/1", ProductID: "gid://shopify/Product/2"},
		{},
		{CustomerID: long, ProductID: long},
		{CustomerID: "a\x00b", ProductID: "\xff"},
	} {
		text := resumeToken{scope: scope, after: after}.encode()
		if len(text) > maxResumeTokenLen {
			t.Errorf("token of %d chars is longer than the decoder accepts (%d)", len(text), maxResumeTokenLen)
		}
		got, err := decodeResumeToken(text)
		if err != nil {
			t.Fatalf("decode(encode(%q)): %v", after, err)
		}
		if got.scope != scope || got.after != after {
			t.Errorf("decode(encode(%q)) = %+v", after, got)
		}
	}
}

func TestStreamScope(t *testing.T) {
	t.Parallel()
	since := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	base := newStreamScope("shop", since, []string{"b", "a"})
	if newStreamScope("shop", since, []string{"a", "b", "a"}) != base {
		t.Error("the same customers in another order or repeated make another scope")
	}
	for name, other := range map[string]streamScope{
		"shop":                newStreamScope("shop2", since, []string{"a", "b"}),
		"updated_since":       newStreamScope("shop", since.Add(time.Nanosecond), []string{"a", "b"}),
		"no updated_since":    newStreamScope("shop", time.Time{}, []string{"a", "b"}),
		"customers":           newStreamScope("shop", since, []string{"a"}),
		"no customers":        newStreamScope("shop", since, nil),
		"ids split elsewhere": newStreamScope("shop", since, []string{"ab"}),
	} {
		if other == base {
			t.Errorf("another %s makes the same scope", name)
		}
	}
}

func TestDecodeResumeTokenRejects(t *testing.T) {
	t.Parallel()
	valid := resumeToken{scope: newStreamScope("shop", time.Time{}, nil), after: store.PairKey{CustomerID: "c", ProductID: "p"}}.encode()
	raw, _ := tokenEncoding.DecodeString(valid)
	reencode := func(edit func([]byte) []byte) string {
		return tokenEncoding.EncodeToString(edit(append([]byte(nil), raw...)))
	}
	for name, text := range map[string]string{
		"empty":         "",
		"not base64":    "not a token!",
		"padded base64": valid + "==",
		"truncated":     valid[:len(valid)-3],
		"one character changed": func() string {
			b := []byte(valid)
			b[len(b)/2] ^= 1
			return string(b)
		}(),
		"body changed":   reencode(func(b []byte) []byte { b[20] ^= 0x80; return b }),
		"check dropped":  reencode(func(b []byte) []byte { return b[:len(b)-checkLen] }),
		"too long":       strings.Repeat("A", maxResumeTokenLen+4),
		"only the check": tokenEncoding.EncodeToString(raw[len(raw)-checkLen:]),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeResumeToken(text)
			if e, ok := invalid.As(err); !ok || e.Field != "resume_token" {
				t.Fatalf("decode(%q) = %v, want an invalid resume_token", text, err)
			}
		})
	}
}

// FuzzDecodeResumeToken checks that the decoder never panics and accepts
// only the one text that encode gives for what it decodes.
func FuzzDecodeResumeToken(f *testing.F) {
	f.Add(resumeToken{scope: newStreamScope("shop", time.Time{}, nil), after: store.PairKey{CustomerID: "c", ProductID: "p"}}.encode())
	f.Add(resumeToken{}.encode())
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, text string) {
		tok, err := decodeResumeToken(text)
		if err != nil {
			if _, ok := invalid.As(err); !ok {
				t.Fatalf("decode(%q) failed with %v, not an invalid argument", text, err)
			}
			return
		}
		if again := tok.encode(); again != text {
			t.Fatalf("decode(%q) = %+v, which encodes as %q", text, tok, again)
		}
	})
}

// BenchmarkResumeToken encodes and decodes the token of a batch, as
// StreamFeatures does for every batch it sends and every resumed call.
func BenchmarkResumeToken(b *testing.B) {
	token := resumeToken{
		scope: newStreamScope("acme.myshopify.com", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), []string{"gid://shopify/Customer/1", "gid://shopify/Customer/2"}),
		after: store.PairKey{CustomerID: "gid://shopify/Customer/7234567890123", ProductID: "gid://shopify/Product/8123456789012"},
	}
	text := token.encode()
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = token.encode()
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeResumeToken(text); err != nil {
				b.Fatal(err)
			}
		}
	})
}
