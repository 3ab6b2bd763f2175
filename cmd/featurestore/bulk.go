package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
)

// defaultBulkConns is the default size of the bulk reads' pool.
const defaultBulkConns = 4

// bulkConfig is the settings that keep bulk reads (StreamFeatures, with
// compute = true too, and so export) from taking what online reads,
// ingest and health need.
type bulkConfig struct {
	Limits server.StreamLimits
	// Conns is the size of the Postgres pool that bulk reads have to
	// themselves, beside the --database-url pool: a stored stream reads on
	// one connection, a computed one on two.
	Conns int
}

// flags registers the settings; env collects the environment variables
// whose values do not parse.
func (c *bulkConfig) flags(fs *flag.FlagSet, env *config) {
	fs.IntVar(&c.Limits.MaxStreams, "max-streams", env.envInt("FEATURESTORE_MAX_STREAMS", server.DefaultMaxStreams),
		"StreamFeatures calls (exports included) served at once; more are answered RESOURCE_EXHAUSTED (env FEATURESTORE_MAX_STREAMS)")
	fs.DurationVar(&c.Limits.StallTimeout, "stream-stall-timeout", env.envDuration("FEATURESTORE_STREAM_STALL_TIMEOUT", server.DefaultStallTimeout),
		"how long a StreamFeatures call may wait on a client that reads nothing before it is cancelled and its connection freed (env FEATURESTORE_STREAM_STALL_TIMEOUT)")
	fs.IntVar(&c.Conns, "bulk-conns", env.envInt("FEATURESTORE_BULK_CONNS", defaultBulkConns),
		"Postgres connections of StreamFeatures' own pool, beside the --database-url pool, which online reads, ingest and compute runs keep (env FEATURESTORE_BULK_CONNS)")
}

// validate names the first bad setting. server.Config would take a zero
// limit for its default; on the command line, 0 is a mistake.
func (c *bulkConfig) validate() error {
	switch {
	case c.Limits.MaxStreams < 1:
		return fmt.Errorf("%w: --max-streams (or FEATURESTORE_MAX_STREAMS) must be at least 1, not %d", errUsage, c.Limits.MaxStreams)
	case c.Limits.StallTimeout <= 0:
		return fmt.Errorf("%w: --stream-stall-timeout (or FEATURESTORE_STREAM_STALL_TIMEOUT) must be positive, not %s", errUsage, c.Limits.StallTimeout)
	case c.Conns < 2:
		return fmt.Errorf("%w: --bulk-conns (or FEATURESTORE_BULK_CONNS) must be at least 2, not %d: a stream with compute = true reads on two connections", errUsage, c.Conns)
	}
	return nil
}

// openStore opens the bulk reads' pool on the database at url, with opts
// besides its own, and the store on it. The caller closes the pool with the
// returned function once done with the store.
func (c *bulkConfig) openStore(ctx context.Context, url string, opts ...store.Option) (*store.Store, func(), error) {
	opts = append([]store.Option{store.WithMaxConns(int32(c.Conns)), store.WithApplicationSuffix("bulk")}, opts...)
	pool, err := store.Open(ctx, url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("bulk database pool: %w", err)
	}
	return store.New(pool), pool.Close, nil
}
