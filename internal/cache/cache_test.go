package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/features"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// testTimeout replaces the production budget of 50 ms per Redis round trip
// in tests that do not time Redis: on a busy machine a round trip can take
// longer, which would turn a cache test into a test of the machine's load.
const testTimeout = 10 * time.Second

func newTestCache(t testing.TB, url string) *Cache {
	t.Helper()
	cfg := DefaultConfig(url)
	cfg.Timeout = testTimeout
	return newTestCacheWith(t, cfg)
}

// newTestCacheWith returns a cache with cfg, in the mode its URL is
// reached in, in front of a new database, which keeps its record of hashes
// to repair.
func newTestCacheWith(t testing.TB, cfg Config) *Cache {
	t.Helper()
	cfg.Mode = Mode(testenv.RedisModeOf(cfg.URL))
	pool, _ := testenv.Postgres(t)
	c, err := New(context.Background(), store.New(pool), cfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func record(t *testing.T, views int64, computedAt time.Time) stampedRecord {
	t.Helper()
	rec, err := newStampedRecord(&store.StoredRow{
		Vector: features.Vector{TotalViews: views}, AsOf: computedAt.Add(-time.Hour), ComputedAt: computedAt, Version: features.Version,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func row(customer, product string, views int64) store.FeatureRow {
	return store.FeatureRow{CustomerID: customer, ProductID: product, Vector: features.Vector{TotalViews: views}}
}

// read looks one customer's products up, fails on a miss, and decodes
// the records (nil for none).
func read(t *testing.T, c *Cache, customer string, products ...string) []*featurestorev1.FeatureRecord {
	t.Helper()
	out, missed, _, err := c.lookup(context.Background(), "shop", []store.Lookup{{CustomerID: customer, ProductIDs: products}})
	if err != nil || len(missed) != 0 {
		t.Fatalf("lookup: missed %v, err %v", missed, err)
	}
	recs := make([]*featurestorev1.FeatureRecord, len(products))
	for i, rec := range out[0] {
		if !rec.Found() {
			continue
		}
		if recs[i], err = protoconv.EncodedRecord(rec.Encoded).Decode(customer, products[i]); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

// TestWritesNeverGoBackwards plays a slow reader's fill, with vectors it
// read before a compute run, after that run's write-through and removal:
// the newer vectors and the removal stand.
func TestWritesNeverGoBackwards(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, testenv.Redis(t))
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	run := t0.Add(time.Minute)

	// The reader read p1 and p2 at t0 from Postgres, then stalled. Its first
	// fill lands so the run's write-through finds the customer cached.
	stale := customerRecords{customerID: "c", records: map[string]stampedRecord{
		"p1": record(t, 1, t0), "p2": record(t, 1, t0),
	}}
	if err := c.put(ctx, "shop", []customerRecords{stale}, "fill"); err != nil {
		t.Fatal(err)
	}
	// The run rewrites p1 and removes p2.
	if err := c.Written(ctx, "shop", []store.FeatureRow{row("c", "p1", 5)}, run.Add(time.Second), run); err != nil {
		t.Fatal(err)
	}
	if err := c.Deleted(ctx, "shop", []store.PairKey{{CustomerID: "c", ProductID: "p2"}}, run); err != nil {
		t.Fatal(err)
	}
	// The stalled reader's fill arrives again, late.
	if err := c.put(ctx, "shop", []customerRecords{stale}, "fill"); err != nil {
		t.Fatal(err)
	}
	got := read(t, c, "c", "p1", "p2")
	if got[0].GetFeatures().GetTotalViews() != 5 || !got[0].GetComputedAt().AsTime().Equal(run.Add(time.Second)) {
		t.Errorf("p1 = %v, want the run's vector", got[0])
	}
	if got[1] != nil {
		t.Errorf("p2 = %v, want removed", got[1])
	}
	// A later run may bring p2 back.
	later := run.Add(time.Hour)
	if err := c.Written(ctx, "shop", []store.FeatureRow{row("c", "p2", 9)}, later, later); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c, "c", "p2"); got[0].GetFeatures().GetTotalViews() != 9 {
		t.Errorf("p2 after a later run = %v", got[0])
	}
}

// TestFillDoesNotHideConcurrentRun plays a reader that misses and reads
// Postgres just before a compute run commits: the run's write-through must
// reach the customer's hash although it was cold, and the reader's late
// fill must not hide the run's rows, new pairs included.
func TestFillDoesNotHideConcurrentRun(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, testenv.Redis(t))
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	run := t0.Add(time.Minute)

	if _, err := c.markPending(ctx, "shop", []string{"c"}); err != nil { // the reader misses
		t.Fatal(err)
	}
	stale := customerRecords{customerID: "c", records: map[string]stampedRecord{"p1": record(t, 1, t0)}} // what it read
	if err := c.Written(ctx, "shop", []store.FeatureRow{row("c", "p1", 7), row("c", "p2", 3)}, run, run); err != nil {
		t.Fatal(err)
	}
	if err := c.put(ctx, "shop", []customerRecords{stale}, "fill"); err != nil { // the reader's fill lands last
		t.Fatal(err)
	}
	got := read(t, c, "c", "p1", "p2")
	if got[0].GetFeatures().GetTotalViews() != 7 || got[1].GetFeatures().GetTotalViews() != 3 {
		t.Errorf("after the fill: p1 %v, p2 %v; want the run's rows", got[0], got[1])
	}
	ttl, err := c.rdb.PTTL(ctx, Key("shop", "c")).Result()
	if err != nil || ttl < time.Hour {
		t.Errorf("filled hash ttl %s (%v), want the cache ttl", ttl, err)
	}
}

// TestLargeCustomer fills and updates a customer with more pairs than one
// script call takes: every pair arrives, and the filled hash is complete.
func TestLargeCustomer(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, testenv.Redis(t))
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	const n = 2*putFields + 7
	products := make([]string, n)
	fill := customerRecords{customerID: "big", records: map[string]stampedRecord{}}
	var rows []store.FeatureRow
	for i := range products {
		products[i] = "p" + strconv.Itoa(i)
		fill.records[products[i]] = record(t, 1, t0)
		rows = append(rows, row("big", products[i], 2))
	}
	if err := c.put(ctx, "shop", []customerRecords{fill}, "fill"); err != nil {
		t.Fatal(err)
	}
	for i, rec := range read(t, c, "big", products...) {
		if rec.GetFeatures().GetTotalViews() != 1 {
			t.Fatalf("%s after the fill: %v", products[i], rec)
		}
	}
	if err := c.Written(ctx, "shop", rows, t0.Add(time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	for i, rec := range read(t, c, "big", products...) {
		if rec.GetFeatures().GetTotalViews() != 2 {
			t.Fatalf("%s after the write-through: %v", products[i], rec)
		}
	}
}

// TestWriteThroughSkipsColdCustomers: a run caches nobody new; only hashes
// that readers created are updated.
func TestWriteThroughSkipsColdCustomers(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, testenv.Redis(t))
	ctx := context.Background()
	now := time.Now().UTC()
	if err := c.Written(ctx, "shop", []store.FeatureRow{row("cold", "p", 1)}, now, now); err != nil {
		t.Fatal(err)
	}
	n, err := c.rdb.Exists(ctx, Key("shop", "cold")).Result()
	if err != nil || n != 0 {
		t.Errorf("cold customer's hash exists (%d, %v) after a write-through", n, err)
	}
	out, missed, _, err := c.lookup(ctx, "shop", []store.Lookup{{CustomerID: "cold", ProductIDs: []string{"p"}}})
	if err != nil || len(missed) != 1 || out[0][0].Found() {
		t.Errorf("cold lookup: %v %v %v, want a miss", out, missed, err)
	}
}

// TestFailedWriteThroughIsNotTrusted: while Redis is down a run cannot
// update a cached customer, so the hash is marked for repair at once, here
// and in Postgres, and removed with its mark once Redis is back.
func TestFailedWriteThroughIsNotTrusted(t *testing.T) {
	t.Parallel()
	redis := testenv.StartRedis(t)
	cfg := DefaultConfig(redis.URL())
	// Long enough for a busy machine's round trips, short enough that the
	// write to the paused server fails soon.
	cfg.Timeout, cfg.BreakerCooldown, cfg.PollInterval = 2*time.Second, 50*time.Millisecond, 50*time.Millisecond
	c := newTestCacheWith(t, cfg)
	ctx := context.Background()
	t0 := time.Now().UTC()
	if err := c.put(ctx, "shop", []customerRecords{{customerID: "c", records: map[string]stampedRecord{"p": record(t, 1, t0)}}}, "fill"); err != nil {
		t.Fatal(err)
	}
	redis.Pause()
	if err := c.Written(ctx, "shop", []store.FeatureRow{row("c", "p", 2)}, t0.Add(time.Second), t0); err != nil {
		t.Fatalf("a write-through whose failure was recorded answered %v", err)
	}
	if !c.anyDirty("shop", []string{"c"}) {
		t.Fatal("the customer whose write-through failed is still trusted")
	}
	marks, err := c.source.CacheMarksSince(ctx, -1)
	if err != nil || len(marks.Marks) != 1 || marks.Marks[0] != (store.CacheMark{ShopID: "shop", CustomerID: "c", ID: marks.Marks[0].ID}) {
		t.Fatalf("marks in postgres: %+v (%v), want customer c of shop", marks.Marks, err)
	}
	redis.Resume()
	testenv.WaitFor(t, time.Minute, "the marked hash is repaired after redis came back", func() bool {
		return c.marks.empty() && countMarks(t, c) == 0
	})
	if n, err := c.rdb.Exists(ctx, Key("shop", "c")).Result(); err != nil || n != 0 {
		t.Errorf("marked hash still in redis (%d, %v)", n, err)
	}
	if marks, err := c.source.CacheMarksSince(ctx, -1); err != nil || len(marks.Marks) != 0 {
		t.Errorf("marks left in postgres after the repair: %+v (%v)", marks.Marks, err)
	}
}

// countMarks counts the marks in Postgres.
func countMarks(t *testing.T, c *Cache) int {
	t.Helper()
	m, err := c.source.CacheMarksSince(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	return len(m.Marks)
}

func TestTTL(t *testing.T) {
	t.Parallel()
	url := testenv.Redis(t)
	cfg := DefaultConfig(url)
	cfg.Timeout = testTimeout
	cfg.TTL = 90 * time.Second
	c := newTestCacheWith(t, cfg)
	ctx := context.Background()
	if err := c.put(ctx, "shop", []customerRecords{{customerID: "c", records: map[string]stampedRecord{"p": record(t, 1, time.Now())}}}, "fill"); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.rdb.PTTL(ctx, Key("shop", "c")).Result()
	if err != nil || ttl <= 80*time.Second || ttl > 90*time.Second {
		t.Errorf("ttl %s (%v), want about 90s", ttl, err)
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	if got, want := Key("shop-0", "gid://shopify/Customer/1"), "fs:v1:{shop-0|gid://shopify/Customer/1}"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	// Separators in ids cannot make two pairs share a key.
	keys := map[string][2]string{}
	for _, k := range [][2]string{{"a|b", "c"}, {"a", "b|c"}, {`a\`, "|c"}, {`a\|`, "c"}, {"a", `\|c`}} {
		key := Key(k[0], k[1])
		if prev, ok := keys[key]; ok {
			t.Errorf("%q and %q share the key %q", prev, k, key)
		}
		keys[key] = k
	}
}

func TestValueRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 1, 2, 3, 4000, time.UTC)
	rec := record(t, 7, at)
	got, err := decodeValue(encodeValue(rec))
	if err != nil || got != rec.record() {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, rec.record())
	}
	if got.ComputedAtMicros != at.UnixMicro() || len(got.Dense) != protoconv.DenseLen {
		t.Errorf("round trip: computed at %d, %d dense bytes", got.ComputedAtMicros, len(got.Dense))
	}
	if got, err := decodeValue(tombstone(at)); got.Found() || err != nil {
		t.Errorf("tombstone decodes to %+v, %v", got, err)
	}
	for _, bad := range []string{"", "123", "abcdefghijklmnop", "0000000000000001\xff\xff",
		"0000000000000001" + valueFormat, "0000000000000001" + valueFormat + rec.dense} {
		if _, err := decodeValue(bad); err == nil {
			t.Errorf("decodeValue(%q) accepted a malformed value", bad)
		}
	}
}

// TestValueOfEarlierFormat reads a value that the earlier format wrote
// (the stamp, then a record without the features equal to 0): it is
// answered as the current format answers the same row, zeros present.
func TestValueOfEarlierFormat(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 1, 2, 3, 4000, time.UTC)
	rec := record(t, 0, at)
	old, err := proto.MarshalOptions{Deterministic: true}.Marshal(&featurestorev1.FeatureRecord{
		AsOf: timestamppb.New(at.Add(-time.Hour)), ComputedAt: timestamppb.New(at), FeaturesVersion: features.Version,
		Features: &featurestorev1.Features{},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeValue(stamp(at) + string(old))
	if err != nil || got != rec.record() {
		t.Fatalf("earlier format: %+v, %v; want %+v", got, err, rec.record())
	}
	// A process of the earlier format finds a current value malformed
	// (and reads Postgres instead): its check of the record fails.
	if protoconv.EncodedRecord(encodeValue(rec)[stampLen:]).Valid() {
		t.Error("a current value passes the earlier format's check")
	}
}

func FuzzDecodeValue(f *testing.F) {
	at := time.Unix(1700000000, 0)
	rec, err := newStampedRecord(&store.StoredRow{Vector: features.Vector{TotalViews: 3}, AsOf: at, ComputedAt: at})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeValue(rec))
	f.Add(stamp(at) + string(rec.enc))
	f.Add(tombstone(time.Unix(1, 0)))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeValue(s)
		if err != nil || !got.Found() {
			return
		}
		// What decodeValue accepts is a record well-formed at the top
		// level (nested messages are not decoded on the read path, by
		// design) with a whole dense row.
		if !protoconv.EncodedRecord(got.Encoded).Valid() || len(got.Dense) != protoconv.DenseLen {
			t.Errorf("decodeValue(%q) = %+v", s, got)
		}
	})
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	b := newBreaker(2, time.Second, 4*time.Second)
	b.now = func() time.Time { return now }
	step := func(want bool) {
		t.Helper()
		if got := b.allow(); got != want {
			t.Fatalf("at %s allow = %v, want %v", now.Sub(time.Unix(0, 0)), got, want)
		}
	}
	step(true)
	b.failure()
	step(true) // one failure is below the threshold
	b.failure()
	step(false) // open
	now = now.Add(time.Second)
	step(true)  // cooldown over: one probe
	step(false) // no second probe while the first is out
	b.failure() // the probe failed: open for twice as long
	now = now.Add(1500 * time.Millisecond)
	step(false)
	now = now.Add(time.Second)
	step(true)
	b.release() // the probe's caller went away: no verdict, but the slot is free
	step(true)
	b.success()
	step(true)
	step(true)
	if b.open() {
		t.Error("breaker open after a success")
	}
}

// TestScriptReloadedAfterFlush empties Redis' script cache, as a restart
// does: the next write gets Redis' NOSCRIPT error, recognised by its type,
// loads the script again and succeeds.
func TestScriptReloadedAfterFlush(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newTestCache(t, srv.URL())
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	fill := func(views int64) {
		t.Helper()
		cr := customerRecords{customerID: "c", records: map[string]stampedRecord{"p": record(t, views, t0.Add(time.Duration(views)*time.Second))}}
		if err := c.put(ctx, "shop", []customerRecords{cr}, "fill"); err != nil {
			t.Fatalf("put after a script flush: %v", err)
		}
	}
	fill(1)
	if err := c.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// What the write sees first: a pipeline's raw NOSCRIPT reply.
	p := c.rdb.Pipeline()
	raw := putScript.EvalSha(ctx, p, []string{Key("shop", "x")}, "1000", "fill")
	_, _ = p.Exec(ctx)
	if !isNoScript(raw.Err()) {
		t.Fatalf("isNoScript(%v) = false for the reply to an unknown script", raw.Err())
	}
	fill(2)
	if got := read(t, c, "c", "p"); got[0].GetFeatures().GetTotalViews() != 2 {
		t.Errorf("after the reload: %v, want the second write", got[0])
	}
	for _, err := range []error{nil, errors.New("NOSCRIPT but not from redis"), redis.Nil} {
		if isNoScript(err) {
			t.Errorf("isNoScript(%v) = true", err)
		}
	}
	if !isNoScript(redis.ErrNoScript) {
		t.Error("isNoScript(redis.ErrNoScript) = false")
	}
}

// TestRepairReachesEveryNode fills the hashes of many customers, which a
// Redis Cluster spreads over its masters, marks half of them one by one,
// then the whole shop: each repair removes every marked hash whatever node
// holds it, and only those.
func TestRepairReachesEveryNode(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, testenv.Redis(t))
	ctx := context.Background()
	const n = 60
	customers := make([]string, n)
	batch := make([]customerRecords, n)
	for i := range customers {
		customers[i] = "c" + strconv.Itoa(i)
		batch[i] = customerRecords{customerID: customers[i], records: map[string]stampedRecord{"p": record(t, 1, time.Now())}}
	}
	for _, shop := range []string{"shop", "other"} {
		if err := c.put(ctx, shop, batch, "fill"); err != nil {
			t.Fatal(err)
		}
	}
	// cached counts the customers of a shop whose hash exists.
	cached := func(shop string, customers []string) int {
		t.Helper()
		cmds := make([]*redis.IntCmd, len(customers))
		if _, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, cust := range customers {
				cmds[i] = p.Exists(ctx, Key(shop, cust))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, cmd := range cmds {
			found += int(cmd.Val())
		}
		return found
	}
	if got := cached("shop", customers); got != n {
		t.Fatalf("%d of %d hashes after the fill", got, n)
	}
	if err := c.markDirty(ctx, "shop", customers[:n/2]); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Minute, "the marked customers' hashes removed", func() bool {
		return cached("shop", customers[:n/2]) == 0 && c.marks.empty()
	})
	if got := cached("shop", customers[n/2:]); got != n/2 {
		t.Errorf("%d of the %d unmarked customers' hashes left", got, n/2)
	}
	if err := c.markDirty(ctx, "shop", nil); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Minute, "the whole shop's hashes removed", func() bool {
		return cached("shop", customers) == 0 && c.marks.empty()
	})
	if got := cached("other", customers); got != n {
		t.Errorf("%d of another shop's %d hashes left", got, n)
	}
}

// BenchmarkReadPairsWarm reads one customer x 100 products from a complete
// hash, as a ranking model's GetFeatures does: the cache's share of the hot
// path.
func BenchmarkReadPairsWarm(b *testing.B) {
	c := newTestCache(b, testenv.Redis(b))
	ctx := context.Background()
	customer := "gid://shopify/Customer/6213000000132"
	cr := customerRecords{customerID: customer, records: map[string]stampedRecord{}}
	products := make([]string, 100)
	now := time.Now()
	for i := range products {
		products[i] = "gid://shopify/Product/74820000" + strconv.Itoa(10000+i)
		rec, err := newStampedRecord(&store.StoredRow{
			Vector: features.Vector{TotalViews: int64(i + 1), CartAdds: 1, EngagementScore: 12.5, ViewFrequency: 0.25}, AsOf: now, ComputedAt: now, Version: features.Version,
		})
		if err != nil {
			b.Fatal(err)
		}
		cr.records[products[i]] = rec
	}
	if err := c.put(ctx, "shop", []customerRecords{cr}, "fill"); err != nil {
		b.Fatal(err)
	}
	lookups := []store.Lookup{{CustomerID: customer, ProductIDs: products}}
	b.ReportAllocs()
	for b.Loop() {
		out, err := c.ReadPairs(ctx, "shop", lookups)
		if err != nil {
			b.Fatal(err)
		}
		if !out[0][99].Found() {
			b.Fatal("product 99 not found in a complete hash")
		}
	}
}

// TestLentRecordsStayWhileLent reads a customer inside the lending of
// another's records and checks the first records are intact: the reply
// buffer of a lent read must not be reused before its lender returns.
func TestLentRecordsStayWhileLent(t *testing.T) {
	c := newTestCache(t, testenv.Redis(t))
	ctx := context.Background()
	now := time.Now()
	var products []string
	for i := range 20 {
		products = append(products, "p"+strconv.Itoa(i))
	}
	for i, customer := range []string{"a", "b"} {
		cr := customerRecords{customerID: customer, records: map[string]stampedRecord{}}
		for j, p := range products {
			cr.records[p] = record(t, int64(1000*(i+1)+j), now)
		}
		if err := c.put(ctx, "shop", []customerRecords{cr}, "fill"); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(customer string) []store.Lookup {
		return []store.Lookup{{CustomerID: customer, ProductIDs: products}}
	}
	err := c.LendPairs(ctx, "shop", lookup("a"), func(outer [][]store.Record) error {
		before := make([]string, len(outer[0]))
		for j, rec := range outer[0] {
			before[j] = strings.Clone(rec.Encoded)
		}
		for range 3 {
			if err := c.LendPairs(ctx, "shop", lookup("b"), func([][]store.Record) error { return nil }); err != nil {
				return err
			}
		}
		for j, rec := range outer[0] {
			if rec.Encoded != before[j] {
				t.Fatalf("product %s: customer a's lent record changed while lent", products[j])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadFollowsClusterRedirects moves a cached customer's hash to another
// master of a Redis Cluster, the way resharding does, and reads it in the
// middle of the move (the old master answers ASK) and after it (MOVED, to
// a client whose slot map is stale): both reads are answered from Redis.
// The online read takes Redis' replies raw, which go-redis does not
// follow, so the cache follows them itself.
func TestReadFollowsClusterRedirects(t *testing.T) {
	url := testenv.Redis(t)
	if testenv.RedisModeOf(url) != "cluster" {
		t.Skip("needs a Redis Cluster: FEATURESTORE_REDIS_MODE=cluster (the cluster run of .ci/run)")
	}
	c := newTestCache(t, url)
	cc := c.rdb.(*redis.ClusterClient)
	ctx := context.Background()
	products := []string{"p1", "p2", "p3"}
	cr := customerRecords{customerID: "moving", records: map[string]stampedRecord{}}
	for i, p := range products {
		cr.records[p] = record(t, int64(10+i), time.Now())
	}
	if err := c.put(ctx, "shop", []customerRecords{cr}, "fill"); err != nil {
		t.Fatal(err)
	}
	key := Key("shop", "moving")
	slot, err := cc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	from, err := cc.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var to *redis.Client
	var masters []*redis.Client
	if err := cc.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
		masters = append(masters, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, m := range masters {
		if m.Options().Addr != from.Options().Addr {
			to = m
			break
		}
	}
	if to == nil {
		t.Fatal("the cluster has one master: nothing to move the slot to")
	}
	fromID, err := from.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	toID, err := to.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	read := func(when string) {
		t.Helper()
		out, missed, _, err := c.lookup(ctx, "shop", []store.Lookup{{CustomerID: "moving", ProductIDs: products}})
		if err != nil || len(missed) != 0 {
			t.Fatalf("%s: lookup: missed %v, err %v; want the hash read from Redis", when, missed, err)
		}
		for i, rec := range out[0] {
			got, err := protoconv.EncodedRecord(rec.Encoded).Decode("moving", products[i])
			if err != nil || got.GetFeatures().GetTotalViews() != int32(10+i) {
				t.Fatalf("%s: %s: %v, %v; want total_views %d", when, products[i], got, err, 10+i)
			}
		}
	}
	read("before the move")

	// The move, as redis-cli --cluster reshard makes it: the slot importing
	// on the new master and migrating on the old, then its keys moved.
	// However the test ends, every master is told that the slot is stable
	// and whose it is, so that the tests after it find a cluster whose
	// slots are all settled: the new master's once the key went there, the
	// old one's if the test ended before (a master refuses to give away a
	// slot it still holds keys of).
	settle := func(ownerID string) error {
		for _, m := range masters {
			if err := m.Do(ctx, "cluster", "setslot", slot, "stable").Err(); err != nil {
				return fmt.Errorf("clear the migration of slot %d on %s: %w", slot, m.Options().Addr, err)
			}
		}
		for _, m := range masters {
			if err := m.Do(ctx, "cluster", "setslot", slot, "node", ownerID).Err(); err != nil {
				return fmt.Errorf("assign slot %d on %s: %w", slot, m.Options().Addr, err)
			}
		}
		return nil
	}
	t.Cleanup(func() {
		owner := toID
		if n, err := from.Exists(ctx, key).Result(); err == nil && n == 1 {
			owner = fromID // the key did not move
		}
		if err := settle(owner); err != nil {
			t.Error(err)
		}
	})
	host, port, err := net.SplitHostPort(to.Options().Addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []redis.Cmder{
		to.Do(ctx, "cluster", "setslot", slot, "importing", fromID),
		from.Do(ctx, "cluster", "setslot", slot, "migrating", toID),
		from.Migrate(ctx, host, port, key, 0, 5*time.Second),
	} {
		if err := step.Err(); err != nil {
			t.Fatalf("%v: %v", step.Args(), err)
		}
	}
	read("during the move (ASK)")

	if err := settle(toID); err != nil {
		t.Fatal(err)
	}
	read("after the move (MOVED)")
}
