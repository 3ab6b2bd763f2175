package auth

import (
	"strings"
	"testing"
)

func TestNewSecret(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id, secret, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := keyID(secret)
		if !ok || got != id {
			t.Fatalf("keyID(%q) = %q, %v; want %q", secret, got, ok, id)
		}
		if !strings.HasPrefix(secret, Prefix+id+"_") || len(secret) != len(Prefix)+idLength+1+secretLength {
			t.Fatalf("secret %q is not fsk_<id>_<secret>", secret)
		}
		if seen[secret] {
			t.Fatalf("secret %q made twice", secret)
		}
		seen[secret] = true
	}
}

func TestKeyIDRejects(t *testing.T) {
	t.Parallel()
	_, good, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"empty":               "",
		"no prefix":           good[len(Prefix):],
		"other prefix":        "sk_" + good[len(Prefix):],
		"upper case":          strings.ToUpper(good),
		"short":               good[:len(good)-1],
		"long":                good + "a",
		"no separator":        strings.Replace(good[len(Prefix):], "_", "a", 1),
		"separator moved":     Prefix + good[len(Prefix)+1:len(Prefix)+idLength+1] + "_" + good[len(Prefix)+idLength+2:] + "a",
		"not base32":          good[:len(good)-1] + "1",
		"bearer left in":      "Bearer " + good,
		"trailing newline":    good[:len(good)-1] + "\n",
		"multibyte character": good[:len(good)-2] + "é",
	} {
		if id, ok := keyID(s); ok {
			t.Errorf("%s: keyID(%q) = %q, accepted", name, s, id)
		}
	}
}

func FuzzKeyID(f *testing.F) {
	_, good, _ := NewSecret()
	f.Add(good)
	f.Add("fsk__")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := keyID(s)
		if !ok {
			return
		}
		if !strings.HasPrefix(s, Prefix+id+"_") || len(id) != idLength || len(s) != len(Prefix)+idLength+1+secretLength {
			t.Fatalf("keyID(%q) = %q: accepted a secret not of the form fsk_<id>_<secret>", s, id)
		}
	})
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      []string
		want    Scope
		wantErr string
	}{
		{in: []string{"read"}, want: ScopeRead},
		{in: []string{"ingest", " read "}, want: ScopeRead | ScopeIngest},
		{in: []string{"read", "export", "compute", "ingest", "pixel"}, want: ScopeRead | ScopeExport | ScopeCompute | ScopeIngest | ScopePixel},
		{in: nil, want: 0},
		{in: []string{"write"}, wantErr: `unknown scope "write": the scopes are read, export, compute, ingest, pixel`},
		{in: []string{"read", "read"}, wantErr: `scope "read" is given twice`},
	} {
		got, err := ParseScopes(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseScopes(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseScopes(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if back, err := ParseScopes(got.Names()); err != nil || back != got {
			t.Errorf("ParseScopes(%q.Names()) = %v, %v", got, back, err)
		}
	}
}
