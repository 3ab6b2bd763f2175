package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/testenv"
)

// TestMain lets a test run the binary as a process of its own (as
// FEATURESTORE_TEST_MAIN=1 ./featurestore.test ARGS), to see everything it
// prints.
func TestMain(m *testing.M) {
	if os.Getenv("FEATURESTORE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is the binary running as a child process.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr *testenv.SyncBuffer
	done           chan struct{}
	err            error
}

// startBinary runs featurestore ARGS as a child process; it is stopped
// with SIGTERM when the test ends, unless it has ended already.
func startBinary(t *testing.T, args ...string) *process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(exe, args...), stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "FEATURESTORE_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop ends the process with SIGTERM, and kills it if it does not end.
func (p *process) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%v did not stop on SIGTERM", p.cmd.Args)
	}
}

// exitCode waits for the process and returns its exit code.
func (p *process) exitCode() int {
	<-p.done
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	return 0
}

// runBinary runs featurestore ARGS to its end.
func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := startBinary(t, args...)
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%v did not finish", args)
	}
	return p.stdout.String(), p.stderr.String(), p.exitCode()
}

// serveInProcess runs serve with args until the test ends; ready is
// called until it returns nil (the server answers), failing the test when
// serve stops first or ready never succeeds.
func serveInProcess(t *testing.T, args []string, ready func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, args) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("serve did not stop after its context ended")
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
