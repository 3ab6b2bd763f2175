package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// RedisCluster is a Redis Cluster of three masters and three replicas that
// one test starts for itself (through scripts/services.sh, in a directory
// of its own) and may damage: fail a master over, kill one.
type RedisCluster struct {
	t   testing.TB
	dir string
	url string
}

// clusterNodes is how many nodes scripts/services.sh starts.
const clusterNodes = 6

// privateClusterPort is the first port a test's own cluster asks for:
// below Linux's range of ports for outgoing connections (32768-60999), so
// that a busy machine's connections do not take a node's port between the
// script's check and the node's bind, which they did in that range.
const privateClusterPort = 26712

// StartRedisCluster starts a throwaway Redis Cluster for t, stopped when t
// ends. Six servers and a test that damages them are worth their time
// only in the runs against a cluster: it skips the test unless
// FEATURESTORE_REDIS_MODE is cluster (as in .ci/run's cluster run). It
// takes twelve ports from privateClusterPort, or the next free ones.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	if RedisMode() != "cluster" {
		t.Skipf("no Redis Cluster configured: this test starts a cluster of its own only when %s=cluster "+
			"(eval \"$(REDIS=cluster scripts/services.sh)\", or .ci/run)", redisModeEnv)
	}
	for _, tool := range []string{"redis-server", "redis-cli", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: scripts/services.sh installs it", tool)
		}
	}
	c := &RedisCluster{t: t, dir: t.TempDir()}
	env := []string{"REDIS=cluster", "FS_REDIS_CLUSTER_PORT=" + strconv.Itoa(privateClusterPort),
		// A master that does not answer for 2 s is failed over: quick, yet
		// not so quick that a busy machine's pauses fail masters over.
		"FS_REDIS_CLUSTER_NODE_TIMEOUT=2000",
		// A Postgres URL is given, so the script starts none. Not the
		// test's own: that may be the URL of the private server the script
		// would start on the default port, which it would take for its own.
		"DATABASE_URL=postgres://unused@127.0.0.1:1/unused"}
	out := c.services(env, "start")
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "export REDIS_URL="); ok {
			c.url = strings.Trim(v, "'")
		}
	}
	t.Cleanup(func() { c.services(env, "stop") })
	if c.url == "" {
		t.Fatalf("scripts/services.sh printed no REDIS_URL:\n%s", out)
	}
	return c
}

// services runs scripts/services.sh on the cluster's directory.
func (c *RedisCluster) services(env []string, cmd string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(), "scripts", "services.sh"), cmd)
	run.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "FS_DATA_DIR=" + c.dir}, env...)
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		c.t.Fatalf("scripts/services.sh %s: %v\n%s", cmd, err, stderr.String())
	}
	return stdout.String()
}

// repoRoot is the repository this package was built from.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// URL is the cluster's URL, every node a seed.
func (c *RedisCluster) URL() string { return c.url }

// Ports are the client ports of the cluster's nodes.
func (c *RedisCluster) Ports() []int {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "redis-cluster", "port"))
	if err != nil {
		c.t.Fatalf("read the cluster's port: %v", err)
	}
	base, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		c.t.Fatalf("the cluster's port: %v", err)
	}
	out := make([]int, clusterNodes)
	for i := range out {
		out[i] = base + i
	}
	return out
}

// Node returns a client of the node on port, which the caller closes.
func Node(port int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1, DialTimeout: time.Second})
}

// SlotOwners returns the port of the master of key's slot and those of its
// replicas, as the first node that answers and sees the cluster in state ok
// says; ok is false when no node does.
func (c *RedisCluster) SlotOwners(ctx context.Context, key string) (master int, replicas []int, ok bool) {
	for _, port := range c.Ports() {
		node := Node(port)
		owners, found := slotOwners(ctx, node, key)
		node.Close()
		if found {
			return owners[0], owners[1:], true
		}
	}
	return 0, nil, false
}

// slotOwners asks node who serves key's slot: the master first, then the
// replicas that are online.
func slotOwners(ctx context.Context, node *redis.Client, key string) ([]int, bool) {
	info, err := node.ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") {
		return nil, false
	}
	slot, err := node.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return nil, false
	}
	shards, err := node.ClusterShards(ctx).Result()
	if err != nil {
		return nil, false
	}
	for _, shard := range shards {
		if !slices.ContainsFunc(shard.Slots, func(r redis.SlotRange) bool { return r.Start <= slot && slot <= r.End }) {
			continue
		}
		var master int
		var replicas []int
		for _, n := range shard.Nodes {
			switch {
			case n.Role == "master" && n.Health == "online":
				master = int(n.Port)
			case n.Role == "replica" && n.Health == "online":
				replicas = append(replicas, int(n.Port))
			}
		}
		return append([]int{master}, replicas...), master != 0
	}
	return nil, false
}

// Failover runs redis-cli cluster failover on the replica on port, which
// takes its master's place with the master's agreement.
func (c *RedisCluster) Failover(port int) {
	c.t.Helper()
	out, err := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "cluster", "failover").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "OK" {
		c.t.Fatalf("redis-cli -p %d cluster failover: %v: %s", port, err, out)
	}
}

// Kill kills the node on port with SIGKILL, found by the pid file that
// scripts/services.sh keeps in its directory.
func (c *RedisCluster) Kill(port int) {
	c.t.Helper()
	i := slices.Index(c.Ports(), port)
	if i < 0 {
		c.t.Fatalf("no node of the cluster on port %d", port)
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "redis-cluster", "node-"+strconv.Itoa(i), "redis.pid"))
	if err != nil {
		c.t.Fatalf("read the pid of the node on port %d: %v", port, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !processAlive(pid) {
		c.t.Fatalf("the node on port %d has no live pid (%q)", port, b)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill -9 the node on port %d: %v", port, err)
	}
}
