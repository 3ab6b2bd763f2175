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

// TestRedisModeFlags parses the cache's flags with each Redis mode and URL:
// a mode other than single or cluster, a cluster's seed list in single
// mode and a database in a cluster URL are refused, naming the flag.
func TestRedisModeFlags(t *testing.T) {
	const cluster = "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002"
	for _, tc := range []struct {
		name    string
		env     string // FEATURESTORE_REDIS_MODE, when not empty
		args    []string
		wantErr string // "" for none
	}{
		{name: "single by default", args: []string{"--redis-url", "redis://127.0.0.1:6379/2"}},
		{name: "cluster", args: []string{"--redis-mode", "cluster", "--redis-url", cluster}},
		{name: "cluster with one seed", args: []string{"--redis-mode", "cluster", "--redis-url", "redis://127.0.0.1:7000"}},
		{name: "cluster from the environment", env: "cluster", args: []string{"--redis-url", cluster}},
		{name: "flag over environment", env: "cluster", args: []string{"--redis-mode", "single", "--redis-url", "redis://127.0.0.1:6379/0"}},
		{name: "mode without url", args: []string{"--redis-mode", "cluster"}},
		{name: "unknown mode", args: []string{"--redis-mode", "sentinel", "--redis-url", cluster}, wantErr: `--redis-mode (or FEATURESTORE_REDIS_MODE) must be single or cluster, not "sentinel"`},
		{name: "unknown mode without url", env: "Cluster", wantErr: `must be single or cluster, not "Cluster"`},
		{name: "seed list in single mode", args: []string{"--redis-url", cluster}, wantErr: "addr= parameters"},
		{name: "database in a cluster url", args: []string{"--redis-mode", "cluster", "--redis-url", "redis://127.0.0.1:7000/3?addr=127.0.0.1:7001"}, wantErr: "only database 0"},
		{name: "bad seed", args: []string{"--redis-mode", "cluster", "--redis-url", "redis://127.0.0.1:7000?addr=nohostport"}, wantErr: "addr param"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("FEATURESTORE_REDIS_MODE", tc.env)
			} else {
				t.Setenv("FEATURESTORE_REDIS_MODE", "single")
			}
			var cfg config
			fs := flag.NewFlagSet("compute", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.databaseFlags(fs)
			cfg.cacheFlags(fs)
			err := parseFlags(fs, append([]string{"--database-url", "postgres://u@127.0.0.1/db"}, tc.args...))
			if err == nil {
				err = cfg.validate()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case tc.wantErr != "" && (!errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("validate: %v, want a usage error with %q", err, tc.wantErr)
			}
			if err == nil && cfg.RedisURL != "" {
				if cc, _ := cfg.cacheConfig(); string(cc.Mode) != cfg.RedisMode {
					t.Errorf("cache mode %q, want %q", cc.Mode, cfg.RedisMode)
				}
			}
		})
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
