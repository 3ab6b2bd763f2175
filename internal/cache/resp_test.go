package cache

import (
	"errors"
	"testing"
)

// TestReadArray reads HMGET replies as Redis writes them in both protocol
// versions, and refuses what is not such a reply.
func TestReadArray(t *testing.T) {
	type elem struct {
		v  string
		ok bool
	}
	for _, tc := range []struct {
		name  string
		reply string
		n     int
		want  []elem
	}{
		{"resp3 values and nulls", "*3\r\n$1\r\n1\r\n_\r\n$5\r\na\r\nbc\r\n", 3, []elem{{"1", true}, {"", false}, {"a\r\nbc", true}}},
		{"resp2 null", "*2\r\n$-1\r\n$0\r\n\r\n", 2, []elem{{"", false}, {"", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := readArray([]byte(tc.reply), tc.n)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				v, ok, err := r.next()
				if err != nil || v != w.v || ok != w.ok {
					t.Errorf("element %d: %q, %v, %v; want %q, %v", i, v, ok, err, w.v, w.ok)
				}
			}
		})
	}
	var re *redisError
	if _, err := readArray([]byte("-MOVED 3999 127.0.0.1:6381\r\n"), 2); !errors.As(err, &re) || re.Error() != "MOVED 3999 127.0.0.1:6381" || !isRedirect(err) {
		t.Errorf("error reply: %v, want the server's error, a redirect", err)
	}
	if _, err := readArray([]byte("-ASK 3999 127.0.0.1:6381\r\n"), 2); !isRedirect(err) {
		t.Errorf("ASK reply: %v, want a redirect", err)
	}
	if _, err := readArray([]byte("!21\r\nSYNTAX invalid syntax\r\n"), 2); !errors.As(err, &re) || re.Error() != "SYNTAX invalid syntax" || isRedirect(err) {
		t.Errorf("blob error reply: %v, want the server's error, not a redirect", err)
	}
	if _, err := readArray([]byte("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"), 2); isRedirect(err) || !errors.As(err, &re) {
		t.Errorf("WRONGTYPE reply: %v, want the server's error, not a redirect", err)
	}
	for _, bad := range []struct {
		name  string
		reply string
	}{
		{"empty", ""},
		{"other count", "*3\r\n_\r\n_\r\n_\r\n"},
		{"not an array", "$1\r\nx\r\n"},
		{"no line end", "*2"},
	} {
		if _, err := readArray([]byte(bad.reply), 2); !errors.Is(err, errRedisReply) {
			t.Errorf("%s: %v, want errRedisReply", bad.name, err)
		}
	}
	for _, bad := range []struct {
		name  string
		reply string
	}{
		{"truncated value", "*1\r\n$5\r\nab\r\n"},
		{"bad length", "*1\r\n$x\r\nab\r\n"},
		{"integer", "*1\r\n:1\r\n"},
		{"missing element", "*1\r\n"},
		{"value not followed by its line end", "*1\r\n$2\r\nabcd\r\n"},
		{"length past the end of any reply", "*1\r\n$9223372036854775807\r\nabc\r\n"},
	} {
		r, err := readArray([]byte(bad.reply), 1)
		if err != nil {
			t.Fatalf("%s: header: %v", bad.name, err)
		}
		if _, _, err := r.next(); !errors.Is(err, errRedisReply) {
			t.Errorf("%s: %v, want errRedisReply", bad.name, err)
		}
	}
}
