// Package cache serves online reads: features of a customer's products from
// Redis, in front of the store, the source of truth. A Cache wraps the
// store's reader and implements the same ReadPairs, as OpenFGA's caching
// datastore wraps its storage: Redis is asked first, and a customer that is
// not cached is filled from the store with all of its rows. Reads that miss
// the same customers at the same time share one fill (singleflight), so a
// burst of reads of a cold customer costs one Postgres read, not one each.
//
// Layout: one hash per (shop, customer), key fs:v<features_version>:{<shop>|<customer>}
// (the braces are a Redis Cluster hash tag: one customer's vectors share a
// slot while shops spread). A field per product holds the vector, and the
// empty field marks the hash complete: every stored row of the customer is
// in it, so a product without a field has no row and is answered NOT_FOUND
// without asking Postgres. A value is 16 decimal digits of the row's
// last_computed_at in Unix microseconds followed by the protobuf-encoded
// FeatureRecord; a value of the 16 digits alone is a tombstone for a pair
// that a compute run removed.
//
// Writes never go backwards: a Lua script replaces a field only with a value
// whose timestamp is newer, which settles the race between a slow reader's
// fill and a compute run's write-through whatever order they arrive in.
// Redis is only a cache: when it fails or is slow, reads go to Postgres, and
// a breaker stops asking Redis on every request while it is down.
//
// Redis is one server (ModeSingle) or a Redis Cluster (ModeCluster, through
// go-redis' cluster client; client.go). Every script call and every key a
// repair removes is one customer's hash, in one slot; pipelines span
// slots, and the client splits them by node. A slot whose master fails
// over fails its calls like any Redis failure, and reads go to Postgres
// until the client has found the new master.
//
// A write-through that fails is marked in Postgres (cache_marks), where every
// process sharing the database finds it: each loads the marks before it
// serves and polls their version, reads marked customers from Postgres,
// and repairs marks in the background in small steps, each with its own
// timeout on connections of its own, outside the breaker (marks.go). A
// run whose process dies between a commit and its write-through leaves
// its intent in feature_runs, which the next poll turns into a mark of
// the whole shop.
package cache
