package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"slices"

	"github.com/featurestore/featurestore/internal/cache"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/metrics"
	"github.com/featurestore/featurestore/internal/replica"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
)

// replicaConfig is the settings of a Postgres read replica, which takes
// the reads that may lag a little (StreamFeatures, exports, GetFeatures'
// reads of Postgres) off the primary.
type replicaConfig struct {
	URL    string
	MaxLag replica.Config
}

// flags registers the settings; env collects the environment variables
// whose values do not parse.
func (c *replicaConfig) flags(fs *flag.FlagSet, env *config) {
	fs.StringVar(&c.URL, "database-read-url", envString("DATABASE_READ_URL", ""),
		"Postgres URL of a streaming replica of --database-url for StreamFeatures, exports and GetFeatures' Postgres reads; empty reads the primary (env DATABASE_READ_URL)")
	fs.DurationVar(&c.MaxLag.MaxLag, "max-replica-lag", env.envDuration("FEATURESTORE_MAX_REPLICA_LAG", replica.DefaultMaxLag),
		"the furthest behind the primary the read replica may be and still be read; further behind, reads go to the primary (env FEATURESTORE_MAX_REPLICA_LAG)")
}

// validate names the first bad setting.
func (c *replicaConfig) validate() error {
	if c.URL == "" {
		return nil
	}
	if err := store.CheckURL(c.URL); err != nil {
		return fmt.Errorf("%w: --database-read-url is not a valid Postgres URL", errUsage)
	}
	if err := c.MaxLag.Validate(); err != nil {
		return fmt.Errorf("%w: --max-replica-lag (or FEATURESTORE_MAX_REPLICA_LAG) must be positive, not %s", errUsage, c.MaxLag.MaxLag)
	}
	return nil
}

// readPaths are the backends of the reads that may lag.
type readPaths struct {
	// online backs GetFeatures, directly or as the cache's source.
	online  cache.Source
	exports server.Exporter
	rows    server.RowComputer
	// monitor, when not nil, must run for the life of the server.
	monitor *replica.Monitor
}

// open returns the read paths: primary, bulk and bulkRows as they are
// without a replica; with one, routed between them and the replica's own
// pools (one for online reads, one for bulk reads, as on the primary).
// The replica's pools take poolOpts, as the primary's do. The caller runs
// the returned closers once done with the paths.
func (c *replicaConfig) open(ctx context.Context, primary, bulk *store.Store, bulkRows *compute.Engine, bulkCfg *bulkConfig,
	computeCfg compute.Config, poolOpts []store.Option, m *metrics.Metrics, logger *slog.Logger) (readPaths, func(), error) {
	paths := readPaths{online: primary, exports: bulk, rows: bulkRows}
	if c.URL == "" {
		return paths, func() {}, nil
	}
	pool, err := store.Open(ctx, c.URL, append(slices.Clip(poolOpts), store.WithApplicationSuffix("replica"))...)
	if err != nil {
		return paths, nil, fmt.Errorf("read replica: %w", err)
	}
	replicaBulk, closeBulk, err := bulkCfg.openStore(ctx, c.URL, poolOpts...)
	if err != nil {
		pool.Close()
		return paths, nil, fmt.Errorf("read replica: %w", err)
	}
	closeAll := func() { closeBulk(); pool.Close() }
	replicaStore := store.New(pool)
	monitor, err := replica.NewMonitor(primary, replicaStore, c.MaxLag, logger)
	if err == nil {
		err = monitor.Register(m.Registry)
	}
	var replicaRows *compute.Engine
	if err == nil {
		replicaRows, err = compute.NewEngine(replicaBulk, computeCfg, logger)
	}
	if err != nil {
		closeAll()
		return paths, nil, err
	}
	if err := monitor.Check(ctx); err != nil {
		logger.Warn("the read replica cannot be read yet; reading the primary until it can", "error", err)
	} else {
		logger.Info("read replica", "lag", monitor.Lag(), "max_lag", c.MaxLag.MaxLag, "read", monitor.Fresh())
	}
	paths.online = replica.NewSource(primary, replicaStore, monitor)
	paths.exports = replica.NewExports(bulk, replicaBulk, monitor)
	paths.rows = replica.NewRows(bulkRows, replicaRows, monitor)
	paths.monitor = monitor
	return paths, closeAll, nil
}
