package cache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Mode says how the cache reaches Redis: one server, or a Redis Cluster.
type Mode string

const (
	// ModeSingle talks to one Redis server (or a proxy in front of many)
	// named by a redis:// URL.
	ModeSingle Mode = "single"
	// ModeCluster talks to a Redis Cluster through go-redis' cluster
	// client, which follows the slot map and splits pipelines by node. The
	// URL names seed nodes: redis://host1:port?addr=host2:port&addr=...
	ModeCluster Mode = "cluster"
)

// Modes lists the modes in the order the documentation gives them.
var Modes = []Mode{ModeSingle, ModeCluster}

// checkURL reports what is wrong with url for mode, without quoting the
// URL (it may hold a password).
func checkURL(mode Mode, rawURL string) error {
	switch mode {
	case ModeSingle:
		if u, err := url.Parse(rawURL); err == nil && u.Query().Has("addr") {
			return errors.New("the url has addr= parameters, which name the nodes of a Redis Cluster: set the mode to cluster")
		}
		if _, err := redis.ParseURL(rawURL); err != nil {
			return redactURLError(err)
		}
	case ModeCluster:
		u, err := url.Parse(rawURL)
		if err != nil {
			return redactURLError(err)
		}
		if p := u.Path; p != "" && p != "/" && p != "/0" {
			return fmt.Errorf("a cluster url names no database (a Redis Cluster has only database 0), got path %q", p)
		}
		if _, err := redis.ParseClusterURL(rawURL); err != nil {
			return redactURLError(err)
		}
	default:
		return fmt.Errorf("mode must be %q or %q, not %q", ModeSingle, ModeCluster, mode)
	}
	return nil
}

// tuning is how a client of the cache waits and pools its connections.
type tuning struct {
	dial, readWrite, pool time.Duration
	poolSize              int
	// noIdle keeps no idle connections open beyond those in use.
	noIdle bool
}

// knobs are the fields of go-redis' Options and ClusterOptions that a
// tuning sets, so that one function tunes either.
type knobs struct {
	maxRetries, poolSize, minIdle *int
	dial, read, write, pool       *time.Duration
	contextTimeout                *bool
}

// apply makes a client fail fast: no retries, short socket timeouts, and
// the caller's context honoured.
func (t tuning) apply(k knobs) {
	*k.maxRetries = -1
	*k.dial, *k.read, *k.write, *k.pool = t.dial, t.readWrite, t.readWrite, t.pool
	*k.contextTimeout = true
	*k.poolSize = max(*k.poolSize, t.poolSize)
	if t.noIdle {
		*k.minIdle = 0
	}
}

// newClient returns a client of the Redis at url in mode, tuned by t. A
// cluster client still follows MOVED and ASK redirects, which are how a
// slot that moved is found, for the replies it parses; the online read,
// whose replies it does not, follows them through lookupParsed.
func newClient(mode Mode, rawURL string, t tuning) (redis.UniversalClient, error) {
	if err := checkURL(mode, rawURL); err != nil {
		return nil, err
	}
	if mode == ModeCluster {
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, redactURLError(err)
		}
		t.apply(knobs{&o.MaxRetries, &o.PoolSize, &o.MinIdleConns, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled})
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, redactURLError(err)
	}
	t.apply(knobs{&o.MaxRetries, &o.PoolSize, &o.MinIdleConns, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled})
	return redis.NewClient(o), nil
}

// forEachMaster calls fn with each node that holds keys: every master of
// a cluster, at once, or the one server. A SCAN reaches only the node it
// is sent to, so a scan of the keyspace runs on each.
func forEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, node redis.Cmdable) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return fn(ctx, node) })
	}
	return fn(ctx, rdb)
}

// unlinkEach removes keys in one pipelined round trip, a command per key:
// a Redis Cluster refuses a command whose keys lie in different slots, and
// a cluster client sends each key's command to the node of its slot.
func unlinkEach(ctx context.Context, rdb redis.Cmdable, keys []string) error {
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Unlink(ctx, k)
		}
		return nil
	})
	return err
}

// reloadTopology asks a cluster client to read the slot map again. A
// client that follows MOVED finds a slot's new master on its own, but a
// master that died answers nothing, and the client would keep dialling it
// until its next periodic reload; the cache asks at each failure instead
// (the client runs one reload at a time). A single server has no map.
func reloadTopology(ctx context.Context, rdb redis.UniversalClient) {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		cc.ReloadState(ctx)
	}
}
