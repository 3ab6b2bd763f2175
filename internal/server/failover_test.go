package server_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/testenv"
)

// failoverReaders is how many GetFeatures calls are in flight at once while
// a master fails over.
const failoverReaders = 16

// readLog records the reads of one phase of TestGetFeaturesThroughClusterFailover.
type readLog struct {
	mu       sync.Mutex
	took     []time.Duration
	failed   int
	firstErr error
}

func (l *readLog) add(took time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.took = append(l.took, took)
	if err != nil {
		l.failed++
		if l.firstErr == nil {
			l.firstErr = err
		}
	}
}

// readStats sums up a readLog.
type readStats struct {
	reads, failed int
	firstErr      error
	p99           time.Duration
}

func (l *readLog) summary() readStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	took := slices.Sorted(slices.Values(l.took))
	s := readStats{reads: len(took), failed: l.failed, firstErr: l.firstErr}
	if len(took) > 0 {
		s.p99 = took[min(len(took)-1, len(took)*99/100)]
	}
	return s
}

// TestGetFeaturesThroughClusterFailover serves GetFeatures from a Redis
// Cluster with failoverReaders reads in flight at all times while a master
// of the cluster goes away: first by a manual failover (redis-cli cluster
// failover on its replica), then by kill -9. Every read answers, right,
// from Postgres while the slot has no master; and afterwards a compute
// run writes through to the hash on the new master again.
func TestGetFeaturesThroughClusterFailover(t *testing.T) {
	cluster := testenv.StartRedisCluster(t)
	o := startOnline(t, cluster.URL(), func(c *cache.Config) {
		c.Mode = cache.ModeCluster
		// A budget a busy machine does not exceed: the reads that fall
		// back are those Redis failed, not those the machine slowed.
		c.Timeout = time.Second
		c.BreakerCooldown = 100 * time.Millisecond
	})
	ctx := context.Background()
	expected := expectedByKey(t)

	// The readers ask for every customer but one, watched, whose hash
	// only the test fills: a fresh value in it after a compute run can
	// come from the run's write-through alone.
	const watchedShop, watched = "shop-0", cust1000
	watchedProduct := product(9000)
	type lookup struct {
		shop, customer string
		products       []string
	}
	byCustomer := map[[2]string][]string{}
	for k := range expected {
		if k[1] != watched {
			byCustomer[[2]string{k[0], k[1]}] = append(byCustomer[[2]string{k[0], k[1]}], k[2])
		}
	}
	var lookups []lookup
	for k, products := range byCustomer {
		slices.Sort(products)
		lookups = append(lookups, lookup{k[0], k[1], products[:min(len(products), 5)]})
	}
	slices.SortFunc(lookups, func(a, b lookup) int { return cmp.Compare(a.shop+a.customer, b.shop+b.customer) })

	var (
		logMu   sync.Mutex
		current = &readLog{}
	)
	phase := func() *readLog {
		logMu.Lock()
		defer logMu.Unlock()
		current = &readLog{}
		return current
	}
	read := func(l lookup) error {
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		resp, err := o.client.GetFeatures(rctx, &featurestorev1.GetFeaturesRequest{ShopId: l.shop, CustomerId: l.customer, ProductIds: l.products})
		if err != nil {
			return err
		}
		for i, r := range resp.GetResults() {
			rec := r.GetRecord()
			if r.GetStatus() != featurestorev1.FeatureStatus_FEATURE_STATUS_FOUND || rec.GetProductId() != l.products[i] ||
				!rec.GetAsOf().AsTime().Equal(goldenAsOf) {
				return fmt.Errorf("%s %s/%s: %s %v", l.shop, l.customer, l.products[i], r.GetStatus(), rec)
			}
		}
		return nil
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for w := range failoverReaders {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				err := read(lookups[i%len(lookups)])
				logMu.Lock()
				l := current
				logMu.Unlock()
				l.add(time.Since(start), err)
			}
		}()
	}
	defer func() {
		close(stop)
		readers.Wait()
	}()

	watchedKey := cache.Key(watchedShop, watched)
	// stamp is the write time of the watched pair's cached value; false
	// when its hash is not complete in Redis.
	stamp := func() (string, bool) {
		opts, err := redis.ParseClusterURL(cluster.URL())
		if err != nil {
			t.Fatal(err)
		}
		// A new client each time: it reads the slot map as it is now.
		client := redis.NewClusterClient(opts)
		defer client.Close()
		vals, err := client.HMGet(ctx, watchedKey, "", watchedProduct).Result()
		if err != nil || vals[0] == nil || vals[1] == nil {
			return "", false
		}
		v, _ := vals[1].(string)
		return v[:min(len(v), 16)], true
	}
	// writesThrough fills the watched customer's hash, runs a compute of
	// its shop and reports whether the run wrote a newer value into it.
	writesThrough := func() bool {
		o.get(t, watchedShop, watched, watchedProduct)
		before, ok := stamp()
		if !ok {
			return false
		}
		if _, err := computeAll(ctx, t, o.client, &featurestorev1.ComputeFeaturesRequest{ShopId: watchedShop, AsOf: timestamppb.New(goldenAsOf)}); err != nil {
			t.Fatalf("compute %s: %v", watchedShop, err)
		}
		after, ok := stamp()
		return ok && after > before
	}
	testenv.WaitFor(t, time.Minute, "the watched customer's hash written through before any failover", writesThrough)

	for _, tc := range []struct {
		name string
		// fail takes the master on port away, its replicas on replicas.
		fail func(master int, replicas []int)
	}{
		{"cluster failover on a replica", func(_ int, replicas []int) { cluster.Failover(replicas[0]) }},
		{"kill -9 of a master", func(master int, _ []int) { cluster.Kill(master) }},
	} {
		log := phase()
		// A replica serves only once its first sync is done (CLUSTER SHARDS
		// calls it online): just after the cluster is made, or after the
		// previous case demoted a master, that can take a while.
		var master int
		var replicas []int
		testenv.WaitFor(t, 2*time.Minute, tc.name+": a master with an online replica serves the watched key", func() bool {
			var ok bool
			master, replicas, ok = cluster.SlotOwners(ctx, watchedKey)
			return ok && len(replicas) > 0
		})
		began := time.Now()
		tc.fail(master, replicas)
		testenv.WaitFor(t, 2*time.Minute, tc.name+": another node is the master of the watched key's slot", func() bool {
			now, _, ok := cluster.SlotOwners(ctx, watchedKey)
			return ok && now != master
		})
		moved := time.Since(began)
		computes := 0
		testenv.WaitFor(t, 2*time.Minute, tc.name+": a compute run writes through to the new master", func() bool {
			computes++
			return writesThrough()
		})
		s := log.summary()
		t.Logf("%s: slot moved in %s; %d reads at concurrency %d, %d failed, p99 %s; write-through resumed after %s (%d compute runs)",
			tc.name, moved.Round(time.Millisecond), s.reads, failoverReaders, s.failed, s.p99.Round(time.Microsecond), time.Since(began).Round(time.Millisecond), computes)
		if s.failed > 0 {
			t.Errorf("%s: %d of %d reads failed; the first: %v", tc.name, s.failed, s.reads, s.firstErr)
		}
		if s.reads < failoverReaders {
			t.Errorf("%s: only %d reads ran", tc.name, s.reads)
		}
	}
}
