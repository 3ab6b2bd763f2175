package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// serverProcess is a featurestore server under test, run as a child process
// so that its peak memory can be read from /proc.
type serverProcess struct {
	cmd  *exec.Cmd
	conn *grpc.ClientConn
	addr string
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startServer runs `featurestore serve` against databaseURL (and redisURL,
// when not empty) and waits until its health check says SERVING.
func startServer(ctx context.Context, binary, databaseURL, redisURL string, extra ...string) (*serverProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", addr, "--metrics-addr", metricsAddr, "--database-url", databaseURL, "--redis-url", redisURL,
		"--migrate=false", "--log-level", "warn", "--health-interval", "200ms"}
	if !slices.Contains(extra, "--auth") {
		// The server listens on loopback; benchmarks measure the work, and
		// the get benchmark measures API keys on a server of its own.
		args = append(args, "--auth", "none")
	}
	args = append(args, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	s := &serverProcess{cmd: cmd, addr: addr}
	s.conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		s.stop()
		return nil, err
	}
	health := healthpb.NewHealthClient(s.conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			fmt.Fprintf(os.Stderr, "  server pid %d: gRPC %s, metrics and pprof http://%s\n", cmd.Process.Pid, addr, metricsAddr)
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("server at %s did not become healthy: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peakRSS is the server's peak resident memory (VmHWM) in bytes.
func (s *serverProcess) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", s.cmd.Process.Pid)
}

func (s *serverProcess) stop() {
	if s.conn != nil {
		s.conn.Close()
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}
