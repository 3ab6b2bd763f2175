package testenv_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/featurestore/featurestore/internal/testenv"
)

// servicesScript is the repository's scripts/services.sh.
func servicesScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "services.sh")
}

// needTools skips the test outside CI, or fails it in CI, when a program
// it runs is missing.
func needTools(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed: CI installs it (make test)", name)
			}
			t.Skipf("%s is not installed", name)
		}
	}
}

// services runs scripts/services.sh with a data directory and the given
// environment of its own (nothing of the test's environment but PATH and
// HOME), and returns its stdout, stderr and error.
func services(t *testing.T, dataDir string, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{servicesScript()}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "FS_DATA_DIR=" + dataDir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// exported returns the value of `export NAME='...'` in the script's output.
func exported(t *testing.T, out, name string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "export "+name+"="); ok {
			return strings.Trim(v, "'")
		}
	}
	t.Fatalf("no %s in the script's output:\n%s", name, out)
	return ""
}

// squatter is a server the script did not start, holding a port.
type squatter struct {
	port int
	// alive reports whether it still serves as it did; it fails the test
	// if its data was touched.
	alive func(t *testing.T) bool
}

// freePort returns a port nothing listens on, away from the ports the
// project's services use by default (55432, 56379 and those near them).
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 47000 + rand.IntN(900)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port between 47000 and 47900")
	return 0
}

// squatRedis starts a redis-server of its own on a free port, holding a key.
func squatRedis(t *testing.T) squatter {
	t.Helper()
	for range 5 {
		port := freePort(t)
		dir := t.TempDir()
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
		t.Cleanup(func() { client.Close() })
		ctx := context.Background()
		up := false
		testenv.WaitFor(t, time.Minute, "the squatting redis-server answers or exits", func() bool {
			// A connection first: a client's ping at a closed port logs.
			up = listening(port) && client.Ping(ctx).Err() == nil
			select {
			case <-exited:
				return true
			default:
				return up
			}
		})
		if !up {
			continue // another program took the port first
		}
		if err := client.Set(ctx, "precious", "data", 0).Err(); err != nil {
			t.Fatal(err)
		}
		return squatter{port: port, alive: func(t *testing.T) bool {
			t.Helper()
			if client.Ping(ctx).Err() != nil {
				return false
			}
			keys, err := client.Keys(ctx, "*").Result()
			if err != nil || len(keys) != 1 || keys[0] != "precious" {
				t.Errorf("the squatting redis-server holds %v (%v), want its own key only", keys, err)
			}
			return true
		}}
	}
	t.Fatal("could not start a squatting redis-server")
	return squatter{}
}

// listening reports whether something accepts connections on port.
func listening(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// ownPort returns the port of the address addr.
func ownPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// squatListener holds a free port with a plain TCP listener that accepts
// connections and says nothing, like a server of another protocol.
func squatListener(t *testing.T) squatter {
	t.Helper()
	var l net.Listener
	var err error
	for range 5 {
		if l, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(freePort(t))); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Read(make([]byte, 1024))
			}()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	return squatter{port: port, alive: func(*testing.T) bool { return listening(port) }}
}

// TestServicesScriptLeavesOthersServersAlone runs scripts/services.sh while
// the port it wants for Redis is held by a server it did not start: it must
// start its own Redis on another port and mark it, remember that port for
// env and stop, and never touch the other server.
func TestServicesScriptLeavesOthersServersAlone(t *testing.T) {
	t.Parallel()
	needTools(t, "bash", "redis-server", "redis-cli", "flock")
	for _, tc := range []struct {
		name  string
		squat func(*testing.T) squatter
	}{
		{"another redis-server", squatRedis},
		{"a server of another protocol", squatListener},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sq := tc.squat(t)
			data := t.TempDir()
			// DATABASE_URL is given, so the script starts no Postgres.
			env := map[string]string{"FS_REDIS_PORT": strconv.Itoa(sq.port), "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unused"}
			t.Cleanup(func() {
				if _, stderr, err := services(t, data, env, "stop"); err != nil {
					t.Errorf("services.sh stop: %v\n%s", err, stderr)
				}
			})

			out, stderr, err := services(t, data, env, "start")
			if err != nil {
				t.Fatalf("services.sh start: %v\n%s", err, stderr)
			}
			if got := exported(t, out, "DATABASE_URL"); got != env["DATABASE_URL"] {
				t.Errorf("DATABASE_URL = %q, want the given one", got)
			}
			url := exported(t, out, "REDIS_URL")
			opts, err := redis.ParseURL(url)
			if err != nil {
				t.Fatalf("REDIS_URL %q: %v", url, err)
			}
			if opts.Addr == "127.0.0.1:"+strconv.Itoa(sq.port) {
				t.Fatalf("REDIS_URL %s is the port of the server the script did not start", url)
			}
			own := redis.NewClient(opts)
			defer own.Close()
			if n, err := own.Exists(context.Background(), testenv.RedisDisposableKey).Result(); err != nil || n != 1 {
				t.Errorf("the script's own redis at %s: marked %d (%v), want its mark", url, n, err)
			}
			if !sq.alive(t) {
				t.Fatal("the server the script did not start is gone")
			}

			// A second start and env find the same server on the port
			// recorded in the data directory.
			for _, cmd := range []string{"start", "env"} {
				out, stderr, err := services(t, data, env, cmd)
				if err != nil {
					t.Fatalf("services.sh %s: %v\n%s", cmd, err, stderr)
				}
				if got := exported(t, out, "REDIS_URL"); got != url {
					t.Errorf("services.sh %s: REDIS_URL = %s, want %s, the server it started", cmd, got, url)
				}
			}
			if recorded, err := os.ReadFile(filepath.Join(data, "redis", "port")); err != nil || !strings.HasSuffix(opts.Addr, ":"+strings.TrimSpace(string(recorded))) {
				t.Errorf("recorded port %q (%v), want the port of %s", recorded, err, url)
			}

			if _, stderr, err := services(t, data, env, "stop"); err != nil {
				t.Fatalf("services.sh stop: %v\n%s", err, stderr)
			}
			if listening(ownPort(t, opts.Addr)) {
				t.Error("the script's own redis still listens after stop")
			}
			if !sq.alive(t) {
				t.Error("services.sh stop stopped the server it did not start")
			}
			if _, stderr, err := services(t, data, env, "status"); err == nil {
				t.Errorf("services.sh status succeeded after stop:\n%s", stderr)
			}
		})
	}
}

// TestServicesScriptUsesGivenURLs checks that URLs in the environment are
// passed through and nothing is started.
func TestServicesScriptUsesGivenURLs(t *testing.T) {
	t.Parallel()
	needTools(t, "bash", "flock")
	data := t.TempDir()
	env := map[string]string{
		"DATABASE_URL": "postgres://someone@127.0.0.1:1/theirs",
		"REDIS_URL":    fmt.Sprintf("redis://127.0.0.1:%d/3", freePort(t)),
	}
	out, stderr, err := services(t, data, env, "start")
	if err != nil {
		t.Fatalf("services.sh start: %v\n%s", err, stderr)
	}
	for name, want := range env {
		if got := exported(t, out, name); got != want {
			t.Errorf("%s = %q, want the given %q", name, got, want)
		}
	}
	if entries, _ := os.ReadDir(data); len(entries) > 1 { // the lock file only
		t.Errorf("the data directory holds %d entries after a start with given URLs, want none but the lock", len(entries))
	}
}

// TestServicesScriptCluster (run it with FEATURESTORE_REDIS_MODE=cluster;
// .ci/run leaves it out for time) starts a Redis Cluster with REDIS=cluster where
// a server it did not start holds the first port it wants: the cluster goes
// on the next free ports and leaves that server alone, a second start
// finds the same cluster, and stop stops every node. Six servers are worth
// their time only in the runs against a cluster.
func TestServicesScriptCluster(t *testing.T) {
	needTools(t, "bash", "redis-server", "redis-cli")
	if testenv.RedisMode() != "cluster" {
		t.Skip("no Redis Cluster configured: this test runs when FEATURESTORE_REDIS_MODE=cluster (.ci/run)")
	}
	sq := squatRedis(t)
	dir := t.TempDir()
	env := map[string]string{"REDIS": "cluster", "FS_REDIS_CLUSTER_PORT": strconv.Itoa(sq.port), "DATABASE_URL": os.Getenv("DATABASE_URL")}
	run := func(args ...string) string {
		t.Helper()
		out, stderr, err := services(t, dir, env, args...)
		if err != nil {
			t.Fatalf("services.sh %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	t.Cleanup(func() { _, _, _ = services(t, dir, env, "stop") })
	out := run("start")
	url := exported(t, out, "REDIS_URL")
	if mode := exported(t, out, "FEATURESTORE_REDIS_MODE"); mode != "cluster" {
		t.Errorf("FEATURESTORE_REDIS_MODE=%s, want cluster", mode)
	}
	opts, err := redis.ParseClusterURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL %q is not a cluster url: %v", url, err)
	}
	if len(opts.Addrs) != 6 || slices.Contains(opts.Addrs, "127.0.0.1:"+strconv.Itoa(sq.port)) {
		t.Fatalf("REDIS_URL %s: want six nodes, none on the squatter's port %d", url, sq.port)
	}
	client := redis.NewClusterClient(opts)
	defer client.Close()
	ctx := context.Background()
	if n, err := client.Exists(ctx, testenv.RedisDisposableKey).Result(); err != nil || n != 1 {
		t.Errorf("the cluster is not marked disposable: %d, %v", n, err)
	}
	if again := exported(t, run("start"), "REDIS_URL"); again != url {
		t.Errorf("a second start printed REDIS_URL=%s, want the running cluster's %s", again, url)
	}
	run("status")
	run("stop")
	for _, addr := range opts.Addrs {
		port, _ := strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
		if listening(port) {
			t.Errorf("a node still listens on %s after stop", addr)
		}
	}
	if !sq.alive(t) {
		t.Error("the squatting server did not survive")
	}
	if _, _, err := services(t, dir, env, "env"); err == nil {
		t.Error("env succeeded with the cluster stopped")
	}
}
