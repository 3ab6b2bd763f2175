package testenv

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisModeEnv names the mode of REDIS_URL, as it does for the binary:
// single (the default) or cluster.
const redisModeEnv = "FEATURESTORE_REDIS_MODE"

// RedisMode is the mode of the Redis that REDIS_URL names: "cluster" when
// FEATURESTORE_REDIS_MODE says so, else "single".
func RedisMode() string {
	if os.Getenv(redisModeEnv) == "cluster" {
		return "cluster"
	}
	return "single"
}

// RedisModeOf returns the mode in which a test reaches the Redis at url:
// "cluster" for the cluster that REDIS_URL names in cluster mode, "single"
// for any other (a logical database, a private server).
func RedisModeOf(url string) string {
	if RedisMode() == "cluster" && url == os.Getenv("REDIS_URL") {
		return "cluster"
	}
	return "single"
}

// clusterLease is the key of the lease on a Redis Cluster's keyspace, and
// clusterLeaseWait how long a test waits for it: every test that uses the
// cluster waits for the others, in this binary and in every other.
const (
	clusterLease     = "featurestore-test-lease:cluster"
	clusterLeaseWait = 10 * time.Minute
)

// clusterTurn lets one test of this binary at a time take the lease,
// which names the binary, not the test.
var clusterTurn sync.Mutex

// redisCluster leases the whole keyspace of the Redis Cluster at url for
// t: tests of every package take turns. Since tests use the same shop and
// customer ids, and so the same keys, a cluster with its one database
// cannot be shared at once. Every key but the marks and leases of the
// tests (featurestore*) is deleted before and after the test.
func redisCluster(t testing.TB, url string) string {
	t.Helper()
	opts, err := redis.ParseClusterURL(url)
	if err != nil {
		t.Fatalf("parse REDIS_URL as a cluster url: %v", err)
	}
	admin := redis.NewClusterClient(opts)
	ctx := context.Background()
	checkDisposable(t, admin, url)
	clusterTurn.Lock()
	holder := leaseHolder()
	deadline := time.Now().Add(clusterLeaseWait)
	for {
		ok, err := admin.SetNX(ctx, clusterLease, holder, leaseTTL).Result()
		if err != nil {
			clusterTurn.Unlock()
			admin.Close()
			t.Fatalf("lease the redis cluster: %v", err)
		}
		if ok {
			break
		}
		reclaimLease(ctx, admin, clusterLease)
		if time.Now().After(deadline) {
			clusterTurn.Unlock()
			admin.Close()
			t.Fatalf("the redis cluster was not free for %s", clusterLeaseWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		defer clusterTurn.Unlock()
		defer admin.Close()
		ctx := context.WithoutCancel(ctx)
		if err := emptyCluster(ctx, admin); err != nil {
			t.Errorf("empty the redis cluster: %v", err)
		}
		_ = releaseScript.Run(ctx, admin, []string{clusterLease}, holder).Err()
	})
	if err := emptyCluster(ctx, admin); err != nil {
		t.Fatalf("empty the redis cluster: %v", err)
	}
	return url
}

// emptyCluster deletes every key of every master but the tests' own.
func emptyCluster(ctx context.Context, admin *redis.ClusterClient) error {
	return admin.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, "*", 1000).Result()
			if err != nil {
				return err
			}
			_, err = node.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					if !strings.HasPrefix(k, "featurestore") {
						p.Unlink(ctx, k)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	})
}
