package cache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/featurestore/featurestore/internal/store"
)

// Marks is the durable record, shared by every process on the database, of
// the cached hashes that may hold vectors older than the table.
// *store.Store implements it.
type Marks interface {
	// MarkCache must record, durably before it returns, that the cached
	// vectors of customerIDs of a shop (every customer when empty) may be
	// older than the table, marking the shop whole once more than
	// maxCustomers of it are marked, and return the version of the record
	// that holds the marks.
	MarkCache(ctx context.Context, shopID string, customerIDs []string, maxCustomers int) (int64, error)
	// CacheMarksSince must return every mark with the record's version, or
	// only the version when it is still known.
	CacheMarksSince(ctx context.Context, known int64) (store.CacheMarks, error)
	// UnmarkCache must remove each of the marks whose id is unchanged.
	UnmarkCache(ctx context.Context, marks []store.CacheMark) error
	// MarkUnsettledRuns must mark whole the shop of every run that ended,
	// or died, before it settled its writes with the cache.
	MarkUnsettledRuns(ctx context.Context) (int64, error)
}

var _ Marks = (*store.Store)(nil)

// maxMarkedCustomers is how many customers of a shop are marked one by one;
// past it the whole shop is marked and repaired by a scan of its keys,
// which keeps the record, and every replica's copy of it, small.
const maxMarkedCustomers = 1000

// Repairs work in steps, each a single Redis call with its own timeout
// (Config.RepairTimeout): unlinking repairKeys customers' hashes, or
// scanning repairScanCount keys of the keyspace for a shop's. A step
// never holds Redis long, and its failure is the repair's alone: it does
// not count against the breaker of online reads.
const (
	repairKeys      = 100
	repairScanCount = 1000
)

// markTimeout bounds each Postgres call of the marks' bookkeeping.
const markTimeout = 10 * time.Second

// markKey names a marked customer of a shop; customer "" is the whole shop.
type markKey struct{ shop, customer string }

// unrecorded is the version of a local mark that Postgres has not taken
// yet, and recording that of one being recorded by markDirty: no load
// holds them, so none drops them. The poll records again only the first.
const (
	unrecorded = math.MaxInt64
	recording  = math.MaxInt64 - 1
)

// localMark is a failure of this process, kept until a load of the record
// holds it.
type localMark struct {
	version int64  // the record's version that holds it, or unrecorded
	seq     uint64 // which failure set it, so that a late recording does not hide a newer one
}

// markSet is a process's copy of the record of cached hashes that may be
// older than the table, with the failures of this process that the copy
// does not hold yet. Reads consult it instead of Postgres.
type markSet struct {
	mu      sync.Mutex
	count   atomic.Int64 // entries in loaded and local, for a lock-free empty check
	version int64
	loaded  map[markKey]int64 // mark -> id, as last read
	local   map[markKey]localMark
	seq     uint64
}

func newMarkSet() *markSet {
	return &markSet{version: -1, loaded: map[markKey]int64{}, local: map[markKey]localMark{}}
}

func (m *markSet) empty() bool { return m.count.Load() == 0 }

func (m *markSet) recount() { m.count.Store(int64(len(m.loaded) + len(m.local))) }

// has reports whether a customer's hash must not be trusted.
func (m *markSet) has(shopID, customerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range [2]markKey{{shopID, ""}, {shopID, customerID}} {
		if _, ok := m.loaded[k]; ok {
			return true
		}
		if _, ok := m.local[k]; ok {
			return true
		}
	}
	return false
}

// changes returns a value that moves whenever this process marks a hash or
// reads the record at another version.
func (m *markSet) changes() [2]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return [2]int64{m.version, int64(m.seq)}
}

// add records failures of this process, being recorded in Postgres, and
// returns their sequence number.
func (m *markSet) add(shopID string, customers []string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	for _, c := range customers {
		m.local[markKey{shopID, c}] = localMark{version: recording, seq: m.seq}
	}
	m.recount()
	return m.seq
}

// recorded notes that Postgres holds the failures of the customers, each
// of the sequence number given, at version: the first load at that version
// or later drops them. A customer failed again since stays as it is.
// Version unrecorded hands them to the poll to record.
func (m *markSet) recorded(shopID string, seqs map[string]uint64, version int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for c, seq := range seqs {
		k := markKey{shopID, c}
		if l, ok := m.local[k]; ok && l.seq == seq {
			m.local[k] = localMark{version: version, seq: seq}
		}
	}
	m.dropLoaded()
}

// dropLoaded drops the local marks that the loaded copy holds.
func (m *markSet) dropLoaded() {
	for k, l := range m.local {
		if l.version <= m.version {
			delete(m.local, k)
		}
	}
	m.recount()
}

// unrecordedMarks returns the local marks Postgres has not taken, by shop,
// with their sequence numbers.
func (m *markSet) unrecordedMarks() map[string]map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out map[string]map[string]uint64
	for k, l := range m.local {
		if l.version != unrecorded {
			continue
		}
		if out == nil {
			out = map[string]map[string]uint64{}
		}
		if out[k.shop] == nil {
			out[k.shop] = map[string]uint64{}
		}
		out[k.shop][k.customer] = l.seq
	}
	return out
}

// load replaces the copy with marks read at their version.
func (m *markSet) load(marks store.CacheMarks) {
	loaded := make(map[markKey]int64, len(marks.Marks))
	for _, mk := range marks.Marks {
		loaded[markKey{mk.ShopID, mk.CustomerID}] = mk.ID
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.version, m.loaded = marks.Version, loaded
	m.dropLoaded()
}

// snapshot returns the marks a repair may remove: those loaded, and this
// process's recorded ones, whose id is the version that recorded them.
func (m *markSet) snapshot() []store.CacheMark {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]store.CacheMark, 0, len(m.loaded)+len(m.local))
	for k, id := range m.loaded {
		out = append(out, store.CacheMark{ShopID: k.shop, CustomerID: k.customer, ID: id})
	}
	for k, l := range m.local {
		if _, ok := m.loaded[k]; !ok && l.version < recording {
			out = append(out, store.CacheMark{ShopID: k.shop, CustomerID: k.customer, ID: l.version})
		}
	}
	return out
}

// repaired forgets marks whose hashes a repair removed, unless they were
// marked again since.
func (m *markSet) repaired(marks []store.CacheMark) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mk := range marks {
		k := markKey{mk.ShopID, mk.CustomerID}
		if id, ok := m.loaded[k]; ok && id == mk.ID {
			delete(m.loaded, k)
		}
		if l, ok := m.local[k]; ok && l.version == mk.ID {
			delete(m.local, k)
		}
	}
	m.recount()
}

// markDirty records that the customers' hashes may be older than the
// table: at once in this process, and durably in Postgres, where every
// replica's next poll finds it. It returns an error only when Postgres did
// not take the record; the background poll then keeps trying, and this
// process distrusts the hashes meanwhile.
func (c *Cache) markDirty(ctx context.Context, shopID string, customers []string) error {
	seq := c.marks.add(shopID, customers)
	seqs := make(map[string]uint64, len(customers))
	for _, cust := range customers {
		seqs[cust] = seq
	}
	// A run that is being cancelled must still leave its record.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	version, err := c.source.MarkCache(mctx, shopID, customers, maxMarkedCustomers)
	if err != nil {
		c.marks.recorded(shopID, seqs, unrecorded) // for the poll to record
		return fmt.Errorf("record the hashes to repair: %w", err)
	}
	c.marks.recorded(shopID, seqs, version)
	c.wakeRepair()
	return nil
}

// wakeRepair starts a repair now rather than at the next tick.
func (c *Cache) wakeRepair() {
	select {
	case c.repairWake <- struct{}{}:
	default:
	}
}

// poll brings this process's copy of the marks up to date: it records the
// failures Postgres has not taken yet, marks the shops of runs that died
// or ended unsettled, and reads the marks again if they changed.
func (c *Cache) poll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	var errs []error
	for shop, seqs := range c.marks.unrecordedMarks() {
		customers := make([]string, 0, len(seqs))
		for cust := range seqs {
			customers = append(customers, cust)
		}
		version, err := c.source.MarkCache(ctx, shop, customers, maxMarkedCustomers)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.marks.recorded(shop, seqs, version)
	}
	if n, err := c.source.MarkUnsettledRuns(ctx); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		c.logger.WarnContext(ctx, "compute runs ended or died without settling their cache writes; their shops' cached hashes are distrusted until repaired", "shops", n)
	}
	c.marks.mu.Lock()
	known := c.marks.version
	c.marks.mu.Unlock()
	marks, err := c.source.CacheMarksSince(ctx, known)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if marks.Version != known {
		c.marks.load(marks)
		if len(marks.Marks) > 0 {
			c.wakeRepair()
		}
	}
	return errors.Join(errs...)
}

// pollLoop keeps the copy of the marks current, every PollInterval: the
// longest a failure recorded by another process goes unseen here.
func (c *Cache) pollLoop(ctx context.Context) {
	ticker := time.NewTicker(c.cfg.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if err := c.poll(ctx); err != nil && ctx.Err() == nil {
			c.logger.WarnContext(ctx, "cache marks not read; this process keeps its last copy", "error", err)
		}
	}
}

// repairTick is how often the repair loop looks for marks to repair when
// nothing woke it.
const repairTick = 250 * time.Millisecond

// repairLoop repairs the marked hashes whenever there are marks, backing
// off while repairs fail.
func (c *Cache) repairLoop(ctx context.Context) {
	ticker := time.NewTicker(repairTick)
	defer ticker.Stop()
	var backoff time.Duration
	var notBefore time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-c.repairWake:
		}
		if c.marks.empty() || time.Now().Before(notBefore) {
			continue
		}
		err := c.repair(ctx)
		switch {
		case err == nil:
			backoff = 0
		case ctx.Err() != nil:
			return
		default:
			backoff = min(max(2*backoff, c.cfg.RepairTimeout), 30*time.Second)
			notBefore = time.Now().Add(backoff)
			c.logger.DebugContext(ctx, "cache repair not done yet", "error", err, "retry_in", backoff)
		}
	}
}

// repair removes the hashes of every loaded mark from Redis, then the
// marks, in steps: a few customers' hashes at a time, or a whole shop's by
// a scan of small steps. A mark is removed only after its hashes are.
func (c *Cache) repair(ctx context.Context) error {
	marks := c.marks.snapshot()
	if len(marks) == 0 {
		return nil
	}
	wholes := map[string][]store.CacheMark{}
	for _, m := range marks {
		if m.CustomerID == "" {
			wholes[m.ShopID] = append(wholes[m.ShopID], m)
		}
	}
	var customers []store.CacheMark
	for _, m := range marks {
		if m.CustomerID == "" {
			continue
		}
		if _, ok := wholes[m.ShopID]; ok {
			wholes[m.ShopID] = append(wholes[m.ShopID], m) // the shop's scan covers it
			continue
		}
		customers = append(customers, m)
	}
	for len(customers) > 0 {
		n := min(len(customers), repairKeys)
		step := customers[:n]
		keys := make([]string, n)
		for i, m := range step {
			keys[i] = Key(m.ShopID, m.CustomerID)
		}
		if err := c.repairStep(ctx, func(ctx context.Context) error { return unlinkEach(ctx, c.repairRdb, keys) }); err != nil {
			return err
		}
		if err := c.unmark(ctx, step); err != nil {
			return err
		}
		customers = customers[n:]
	}
	for shop, shopMarks := range wholes {
		if err := c.repairShop(ctx, shop); err != nil {
			return err
		}
		if err := c.unmark(ctx, shopMarks); err != nil {
			return err
		}
	}
	return nil
}

// repairShop removes every cached hash of a shop, scanning the keyspace in
// steps of repairScanCount keys, on every master of a cluster. SCAN
// returns every key that exists on its node from the scan's start to its
// end, so every hash the shop had when its marks were read is removed. A
// master that fails over during the scan fails the step, and the repair
// runs again from the start.
func (c *Cache) repairShop(ctx context.Context, shopID string) error {
	return forEachMaster(ctx, c.repairRdb, func(ctx context.Context, node redis.Cmdable) error {
		return c.repairShopOn(ctx, node, shopID)
	})
}

// repairShopOn removes the shop's hashes that one node holds.
func (c *Cache) repairShopOn(ctx context.Context, node redis.Cmdable, shopID string) error {
	pattern := globEscape(keyPrefix(shopID)) + "*}"
	var cursor uint64
	for {
		err := c.repairStep(ctx, func(ctx context.Context) error {
			found, next, err := node.Scan(ctx, cursor, pattern, repairScanCount).Result()
			if err == nil && len(found) > 0 {
				err = unlinkEach(ctx, node, found)
			}
			if err == nil {
				cursor = next
			}
			return err
		})
		if err != nil {
			return err
		}
		if cursor == 0 {
			return nil
		}
	}
}

// repairStep runs one step of a repair against Redis within its own
// budget, on the repair's own connections, outside the online breaker.
func (c *Cache) repairStep(ctx context.Context, fn func(ctx context.Context) error) error {
	sctx, cancel := context.WithTimeout(ctx, c.cfg.RepairTimeout)
	defer cancel()
	err := fn(sctx)
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.writes.WithLabelValues("repair", result).Inc()
	if err != nil {
		return fmt.Errorf("repair step: %w", err)
	}
	return nil
}

// unmark removes repaired marks from Postgres, then from this process's
// copy, so that it trusts the customers again before its next poll.
func (c *Cache) unmark(ctx context.Context, marks []store.CacheMark) error {
	mctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	if err := c.source.UnmarkCache(mctx, marks); err != nil {
		return err
	}
	c.marks.repaired(marks)
	return nil
}
