package cache

import "github.com/redis/go-redis/v9"

// putScript writes fields of one customer's hash, each only when its value's
// timestamp is newer than the stored one's, so that writes never go
// backwards. KEYS[1] is the hash; ARGV[1] the TTL in milliseconds; ARGV[2]
// the mode: "fill" also marks the hash complete, "part" is a fill's call
// before its last, "update" writes only into a hash that exists (the
// write-through of a compute run caches no cold customer); then
// field/value pairs. It returns the number of fields written.
var putScript = redis.NewScript(`
local mode = ARGV[2]
if mode == 'update' and redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local written = 0
for i = 3, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', KEYS[1], field)
  if not current or tonumber(string.sub(current, 1, 16)) < tonumber(string.sub(value, 1, 16)) then
    redis.call('HSET', KEYS[1], field, value)
    written = written + 1
  end
end
if mode == 'fill' then
  redis.call('HSET', KEYS[1], '', '1')
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return written
`)
