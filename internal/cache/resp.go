package cache

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The hot read is one HMGET of a customer's hash. go-redis parses a reply
// into a []any of strings, one allocation (and a copy) per field, which
// for 100 products made the parse, and the garbage it left, the largest
// cost of a warm GetFeatures. The cache asks for the reply as go-redis
// received it instead (redis.RawWriteToCmd) and reads it in place with
// bulkReader: every value is a substring of the one reply buffer, which
// is reused (replyBuffers).
//
// go-redis follows a Redis Cluster's MOVED and ASK redirects only for
// replies it parses: a raw reply hands the redirect over as it is. The
// cache reads a redirected customer again with go-redis' own HMGET
// (isRedirect), which follows it.

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
	// Nothing writes a reply's buffer until it goes back to replyBuffers,
	// after the last use of the records read from it (Cache.LendPairs),
	// so viewing it as a string is safe and saves a copy of the reply.
	r := bulkReader{s: unsafe.String(&reply[0], len(reply))}
	line, err := r.line()
	if err != nil {
		return bulkReader{}, err
	}
	switch line[0] {
	case '-':
		return bulkReader{}, &redisError{msg: strings.Clone(line[1:])}
	case '!': // a RESP3 blob error: its length, then its text
		msg, ok, err := r.bulk("$" + line[1:])
		if err != nil || !ok {
			return bulkReader{}, fmt.Errorf("%w: malformed error reply", errRedisReply)
		}
		return bulkReader{}, &redisError{msg: strings.Clone(msg)}
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
	return r.bulk(line)
}

// bulk reads the bulk string whose header line was just consumed.
func (r *bulkReader) bulk(line string) (v string, ok bool, err error) {
	switch {
	case line == "_" || line == "$-1": // RESP3 null, RESP2 null bulk string
		return "", false, nil
	case line[0] != '$':
		return "", false, fmt.Errorf("%w: element %.40q, want a bulk string", errRedisReply, line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > len(r.s)-2 || r.s[n:n+2] != "\r\n" {
		return "", false, fmt.Errorf("%w: bulk string %q truncated or malformed", errRedisReply, line)
	}
	v, r.s = r.s[:n], r.s[n+2:]
	return v, true, nil
}

// hmgetValues yields the values of an HMGET reply in the order of its
// fields: a value, or ok false where the field has none.
type hmgetValues interface {
	next() (v string, ok bool, err error)
}

// parsedValues are the values of an HMGET reply that go-redis parsed.
type parsedValues []any

func (p *parsedValues) next() (string, bool, error) {
	if len(*p) == 0 {
		return "", false, fmt.Errorf("%w: fewer values than fields", errRedisReply)
	}
	v := (*p)[0]
	*p = (*p)[1:]
	s, ok := v.(string)
	return s, ok, nil
}

// isRedirect reports whether err is a Redis Cluster's MOVED or ASK reply
// read from a raw reply.
func isRedirect(err error) bool {
	var re *redisError
	return errors.As(err, &re) && (strings.HasPrefix(re.msg, "MOVED ") || strings.HasPrefix(re.msg, "ASK "))
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

// replyBuffers are the buffers HMGET replies are read into. Buffers come
// back once their records are no longer used (Cache.LendPairs), so a
// steady stream of reads allocates none. A new buffer is allocated at the
// size the replies seen so far suggest: replies vary little (a value's
// size varies with its ids only), and a guess too small only costs the
// buffer growing.
type replyBuffers struct {
	pool sync.Pool
	// perField is the largest size per field of a reply seen.
	perField atomic.Int64
}

// replyHeadroom is added to a new buffer's size: bytes.Buffer grows
// whenever it has less than bytes.MinRead free as a value is read in.
const replyHeadroom = 1024

// maxKeptReply is the largest buffer kept for reuse: one that some huge
// read grew is left to the garbage collector rather than held.
const maxKeptReply = 1 << 20

// get returns an empty buffer for the reply of an HMGET of fields fields.
func (r *replyBuffers) get(fields int) *bytes.Buffer {
	size := int(r.perField.Load())*fields + replyHeadroom
	if b, ok := r.pool.Get().(*bytes.Buffer); ok {
		b.Grow(size)
		return b
	}
	return bytes.NewBuffer(make([]byte, 0, size))
}

// put returns buffers whose contents nothing uses any more.
func (r *replyBuffers) put(bufs []*bytes.Buffer) {
	for _, b := range bufs {
		if b != nil && b.Cap() <= maxKeptReply {
			b.Reset()
			r.pool.Put(b)
		}
	}
}

// observe notes a reply of n bytes to an HMGET of fields fields.
func (r *replyBuffers) observe(n, fields int) {
	per := int64(n/fields + 1)
	for {
		old := r.perField.Load()
		if per <= old || r.perField.CompareAndSwap(old, per) {
			return
		}
	}
}
