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
