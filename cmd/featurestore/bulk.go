package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

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

func (c *bulkConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.Limits.MaxStreams, "max-streams", envInt("FEATURESTORE_MAX_STREAMS", server.DefaultMaxStreams),
		"StreamFeatures calls (exports included) served at once; more are answered RESOURCE_EXHAUSTED (env FEATURESTORE_MAX_STREAMS)")
	fs.DurationVar(&c.Limits.StallTimeout, "stream-stall-timeout", envDuration("FEATURESTORE_STREAM_STALL_TIMEOUT", server.DefaultStallTimeout),
		"how long a StreamFeatures call may wait on a client that reads nothing before it is cancelled and its connection freed (env FEATURESTORE_STREAM_STALL_TIMEOUT)")
	fs.IntVar(&c.Conns, "bulk-conns", envInt("FEATURESTORE_BULK_CONNS", defaultBulkConns),
		"Postgres connections of StreamFeatures' own pool, beside the --database-url pool, which online reads, ingest and compute runs keep (env FEATURESTORE_BULK_CONNS)")
}

func (c *bulkConfig) validate() error {
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if c.Conns < 2 {
		return fmt.Errorf("%w: --bulk-conns (or FEATURESTORE_BULK_CONNS) must be at least 2, not %d: a stream with compute = true reads on two connections", errUsage, c.Conns)
	}
	return nil
}

// openPool opens the bulk reads' pool on the database at url.
func (c *bulkConfig) openPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pool, err := store.Open(ctx, url, store.WithMaxConns(int32(c.Conns)), store.WithApplicationSuffix("bulk"))
	if err != nil {
		return nil, fmt.Errorf("bulk database pool: %w", err)
	}
	return pool, nil
}
