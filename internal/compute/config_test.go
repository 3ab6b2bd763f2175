package compute_test

import (
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/testenv"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*compute.Config)
		field  string // the setting the error names; "" for none
	}{
		{"defaults", func(*compute.Config) {}, ""},
		{"one of each", func(c *compute.Config) { c.BatchSize, c.Writers, c.Workers = 1, 1, 1 }, ""},
		{"no batch", func(c *compute.Config) { c.BatchSize = 0 }, "BatchSize"},
		{"no writer", func(c *compute.Config) { c.Writers = 0 }, "Writers"},
		{"negative workers", func(c *compute.Config) { c.Workers = -2 }, "Workers"},
		{"no progress interval", func(c *compute.Config) { c.ProgressInterval = 0 }, "ProgressInterval"},
		{"negative progress interval", func(c *compute.Config) { c.ProgressInterval = -time.Second }, "ProgressInterval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := compute.DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "compute: "+tc.field+" ") {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.field)
			}
			if _, newErr := compute.NewEngine(nil, cfg, testenv.Logger()); newErr == nil || newErr.Error() != err.Error() {
				t.Errorf("NewEngine = %v, want Validate's error", newErr)
			}
		})
	}
}
