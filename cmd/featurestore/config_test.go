package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// TestEnvironmentErrorsBelongToTheirConfig parses the compute flags with a
// malformed environment variable, then without it: the first is refused
// naming the variable, and the second, a config of its own, does not
// inherit the first one's error.
func TestEnvironmentErrorsBelongToTheirConfig(t *testing.T) {
	parse := func() error {
		var cfg config
		fs := flag.NewFlagSet("compute", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.databaseFlags(fs)
		cfg.computeFlags(fs)
		if err := parseFlags(fs, []string{"--database-url", "postgres://u@127.0.0.1/db"}); err != nil {
			return err
		}
		return cfg.validate()
	}
	t.Setenv("FEATURESTORE_COMPUTE_WORKERS", "many")
	err := parse()
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "FEATURESTORE_COMPUTE_WORKERS") {
		t.Fatalf("with a malformed FEATURESTORE_COMPUTE_WORKERS: %v, want a usage error naming it", err)
	}
	t.Setenv("FEATURESTORE_COMPUTE_WORKERS", "3")
	if err := parse(); err != nil {
		t.Fatalf("with a valid FEATURESTORE_COMPUTE_WORKERS: %v", err)
	}
}

// TestReplicaFlags checks the read replica's settings: each bad one is
// refused naming its flag, and --max-replica-lag matters only with a
// replica.
func TestReplicaFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for none
	}{
		{nil, ""},
		{[]string{"--max-replica-lag", "0s"}, ""},
		{[]string{"--database-read-url", "postgres://u@127.0.0.2/db"}, ""},
		{[]string{"--database-read-url", "postgres://u@127.0.0.2/db", "--max-replica-lag", "0s"}, "--max-replica-lag"},
		{[]string{"--database-read-url", "postgres://u@127.0.0.2/db", "--max-replica-lag", "-1s"}, "--max-replica-lag"},
		{[]string{"--database-read-url", "postgres://u@[bad/db"}, "--database-read-url"},
	} {
		var cfg config
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.serveFlags(fs)
		err := parseFlags(fs, append([]string{"--database-url", "postgres://u@127.0.0.1/db"}, tc.args...))
		if err == nil {
			err = cfg.validate()
		}
		if tc.want == "" && err != nil || tc.want != "" && (!errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %s", tc.args, err, map[bool]string{true: "no error", false: "a usage error naming " + tc.want}[tc.want == ""])
		}
	}
}
