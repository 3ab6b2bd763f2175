package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisDatabases are the logical databases tests lease, one per test, so
// that tests running at once in different packages never share keys:
// databases 1 to redisDatabases-1, the leases themselves in the database
// REDIS_URL names.
const redisDatabases = 16

// RedisDisposableKey marks a Redis whose logical databases 1-15 tests may
// empty: scripts/services.sh sets it on the servers it starts. Tests refuse
// to flush any other Redis unless FEATURESTORE_TEST_REDIS_FLUSH=1 says that
// the one REDIS_URL names is disposable, so that pointing REDIS_URL at a
// server with data never loses it.
const RedisDisposableKey = "featurestore:test:disposable"

// redisFlushEnv is the opt-in for a Redis without RedisDisposableKey.
const redisFlushEnv = "FEATURESTORE_TEST_REDIS_FLUSH"

// leaseTTL outlives any test binary (go test's -timeout is 15 to 20
// minutes here), so a lease never expires under a test that still runs; a
// lease left by a killed binary of this machine is reclaimed at once.
const leaseTTL = 30 * time.Minute

// releaseScript deletes a lease only if it is still the given holder's.
var releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// Redis returns the URL of a Redis logical database that no other test uses
// while this one runs, emptied before and after it. When
// FEATURESTORE_REDIS_MODE is cluster, REDIS_URL names a Redis Cluster,
// which has only database 0: Redis then returns that URL to one test at a
// time (redisCluster); RedisModeOf tells the test which mode it is.
func Redis(t testing.TB) string {
	t.Helper()
	base := require(t, "REDIS_URL")
	if RedisMode() == "cluster" {
		return redisCluster(t, base)
	}
	opts, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("parse REDIS_URL: %v", err)
	}
	ctx := context.Background()
	admin := redis.NewClient(opts)
	defer admin.Close()
	checkDisposable(t, admin, base)
	holder := leaseHolder()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		for db := 1; db < redisDatabases; db++ {
			lease := fmt.Sprintf("featurestore-test-lease:%d", db)
			ok, err := admin.SetNX(ctx, lease, holder, leaseTTL).Result()
			if err != nil {
				t.Fatalf("lease a redis database: %v", err)
			}
			if !ok {
				reclaimLease(ctx, admin, lease)
				continue
			}
			dbOpts := *opts
			dbOpts.DB = db
			client := redis.NewClient(&dbOpts)
			if err := client.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("flush redis database %d: %v", db, err)
			}
			t.Cleanup(func() {
				ctx := context.WithoutCancel(ctx)
				_ = client.FlushDB(ctx).Err()
				client.Close()
				c := redis.NewClient(opts)
				_ = releaseScript.Run(ctx, c, []string{lease}, holder).Err()
				c.Close()
			})
			return fmt.Sprintf("redis://%s/%d", opts.Addr, db)
		}
		if time.Now().After(deadline) {
			t.Fatal("no free redis test database for 5 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkDisposable fails the test unless the Redis at url may be flushed.
func checkDisposable(t testing.TB, admin redis.Cmdable, url string) {
	t.Helper()
	if os.Getenv(redisFlushEnv) == "1" {
		return
	}
	n, err := admin.Exists(context.Background(), RedisDisposableKey).Result()
	if err != nil {
		t.Fatalf("check REDIS_URL: %v", err)
	}
	if n == 0 {
		t.Fatalf("REDIS_URL=%s names a Redis that scripts/services.sh did not start (it has no key %q), "+
			"and tests empty its logical databases 1-%d (a cluster's keys): if that server holds nothing you need, set %s=1",
			url, RedisDisposableKey, redisDatabases-1, redisFlushEnv)
	}
}

// leaseHolder names this test binary in the leases it takes.
func leaseHolder() string {
	host, _ := os.Hostname()
	return host + "/" + strconv.Itoa(os.Getpid())
}

// reclaimLease deletes lease if a test binary of this machine that has
// since exited holds it.
func reclaimLease(ctx context.Context, admin redis.Cmdable, lease string) {
	holder, err := admin.Get(ctx, lease).Result()
	if err != nil {
		return
	}
	host, pid, ok := strings.Cut(holder, "/")
	if me, _ := os.Hostname(); !ok || host != me {
		return
	}
	n, err := strconv.Atoi(pid)
	if err != nil || processAlive(n) {
		return
	}
	_ = releaseScript.Run(ctx, admin, []string{lease}, holder).Err()
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// RedisProcess is a private redis-server that a test can stop and start, to
// see how the service lives through a Redis outage.
type RedisProcess struct {
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

// StartRedis starts a private redis-server on a free port. It skips the test
// when redis-server is not installed (outside CI; in CI it fails).
func StartRedis(t testing.TB) *RedisProcess {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed: make test installs it")
		}
		t.Skip("redis-server is not installed: run `make test`")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &RedisProcess{t: t, port: port, dir: t.TempDir()}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// URL is the server's redis:// URL.
func (p *RedisProcess) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(p.port) + "/0" }

// Start starts the server (again) on its port and waits until it answers.
func (p *RedisProcess) Start() {
	p.t.Helper()
	p.cmd = exec.Command("redis-server", "--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir, "--logfile", filepath.Join(p.dir, "redis.log"))
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start redis-server: %v", err)
	}
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p.port)})
	defer client.Close()
	deadline := time.Now().Add(10 * time.Second)
	for client.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			p.t.Fatalf("redis-server on port %d did not answer", p.port)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pause freezes the server (SIGSTOP): its connections stay open but
// nothing answers, as with a Redis that hangs. Resume undoes it.
func (p *RedisProcess) Pause() { p.signal(syscall.SIGSTOP) }

// Resume lets a paused server run again.
func (p *RedisProcess) Resume() { p.signal(syscall.SIGCONT) }

func (p *RedisProcess) signal(sig os.Signal) {
	p.t.Helper()
	if p.cmd == nil || p.cmd.Process == nil {
		p.t.Fatal("redis-server is not running")
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal redis-server: %v", err)
	}
}

// Stop kills the server, as a crash would.
func (p *RedisProcess) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// SilentServer accepts TCP connections and never answers, like a Redis that
// hangs. It returns its redis:// URL.
func SilentServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "redis://" + l.Addr().String() + "/0"
}
