package cache

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"
)

// The hot read is one HMGET of a customer's hash. go-redis parses a reply
// into a []any of strings, one allocation (and a copy) per field, which
// for 100 products made the parse, and the garbage it left, the largest
// cost of a warm GetFeatures. The cache asks for the reply as go-redis
// received it instead (redis.RawCmd) and reads it in place with
// bulkReader: every value is a substring of the one reply buffer, which
// replySize sizes so that it is allocated once.

// errRedisReply is a reply other than the array of values an HMGET
// answers, or a malformed one.
var errRedisReply = errors.New("unexpected redis reply")

// bulkReader reads the elements of an array reply of bulk strings and
// nulls, in RESP2 or RESP3.
type bulkReader struct{ s string }

// readArray starts reading reply, which must be an array of n elements.
// An error reply (a RESP error such as MOVED or WRONGTYPE) is returned as
// a *redisError. The reply's bytes must not change while the returned
// reader's values are in use: they are views of them.
func readArray(reply []byte, n int) (bulkReader, error) {
	if len(reply) == 0 {
		return bulkReader{}, fmt.Errorf("%w: empty", errRedisReply)
	}
	// A RawCmd's buffer is the reply's alone and nothing writes it after
	// the command returns, so viewing it as a string is safe and saves a
	// copy of the whole reply.
	r := bulkReader{s: unsafe.String(&reply[0], len(reply))}
	line, err := r.line()
	if err != nil {
		return bulkReader{}, err
	}
	switch line[0] {
	case '-', '!':
		return bulkReader{}, &redisError{msg: strings.Clone(line[1:])}
	case '*':
		if got, err := strconv.Atoi(line[1:]); err != nil || got != n {
			return bulkReader{}, fmt.Errorf("%w: array header %q, want %d elements", errRedisReply, line, n)
		}
		return r, nil
	}
	return bulkReader{}, fmt.Errorf("%w: %.40q, want an array", errRedisReply, line)
}

// next returns the next element: its value, or ok false for a null.
func (r *bulkReader) next() (v string, ok bool, err error) {
	line, err := r.line()
	if err != nil {
		return "", false, err
	}
	switch {
	case line == "_" || line == "$-1": // RESP3 null, RESP2 null bulk string
		return "", false, nil
	case line[0] != '$':
		return "", false, fmt.Errorf("%w: element %.40q, want a bulk string", errRedisReply, line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || len(r.s) < n+2 || r.s[n:n+2] != "\r\n" {
		return "", false, fmt.Errorf("%w: bulk string %q truncated or malformed", errRedisReply, line)
	}
	v, r.s = r.s[:n], r.s[n+2:]
	return v, true, nil
}

// line consumes the next CRLF-terminated line and returns it without the
// CRLF; it is never empty.
func (r *bulkReader) line() (string, error) {
	line, rest, ok := strings.Cut(r.s, "\r\n")
	if !ok || line == "" {
		return "", fmt.Errorf("%w: truncated", errRedisReply)
	}
	r.s = rest
	return line, nil
}

// redisError is an error reply of Redis read from a raw reply, such as
// go-redis would have returned as a redis.Error.
type redisError struct{ msg string }

func (e *redisError) Error() string { return e.msg }

// RedisError marks it as an error of the Redis server, as go-redis' own
// errors are.
func (e *redisError) RedisError() {}

// replySize learns how long an HMGET's reply is per field, so that a
// reply's buffer is allocated at its size once rather than grown as the
// reply arrives. It keeps the largest size seen: replies vary little (a
// value's size varies with its ids only), and a guess too small only costs
// the buffer growing.
type replySize struct{ perField atomic.Int64 }

// replyHeadroom is added to a guess, for the array header and ids a little
// longer than the ones seen so far.
const replyHeadroom = 1024

// guess returns the capacity to give the reply of an HMGET of fields
// fields.
func (r *replySize) guess(fields int) int {
	return int(r.perField.Load())*fields + replyHeadroom
}

// observe notes a reply of n bytes to an HMGET of fields fields.
func (r *replySize) observe(n, fields int) {
	per := int64(n/fields + 1)
	for {
		old := r.perField.Load()
		if per <= old || r.perField.CompareAndSwap(old, per) {
			return
		}
	}
}
