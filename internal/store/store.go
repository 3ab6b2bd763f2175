package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is featurestore's Postgres database: every query the service runs
// is one of its methods, so that SQL and the driver live in this package
// only. Its consumers each depend on the narrow interface of the methods
// they use, which they declare themselves.
//
// Make one Store per pool: a Store serialises the taking of a scan's two
// connections (see acquirePair), and two Stores on one pool would not see
// each other's scans. Two pools make two Stores (serve gives bulk reads a
// pool of their own), whose scans never wait on one another.
type Store struct {
	pool *pgxpool.Pool
	// pairGate, a channel of one place, serialises taking a scan's two
	// connections. Scans that each held one connection while waiting for a
	// second could otherwise exhaust the pool and wait on one another for
	// ever. It is a channel, not a mutex, so that a scan waiting for it can
	// be cancelled.
	pairGate chan struct{}
}

// New returns the Store that queries through pool. The caller keeps
// ownership of the pool and closes it after the Store's last use.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, pairGate: make(chan struct{}, 1)} }

// Ping reports whether Postgres answers; an error wraps ErrUnavailable when
// it does not.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return translate(fmt.Errorf("ping postgres: %w", err))
	}
	return nil
}

// MaxConns is the most connections the pool opens at once
// (pool_max_conns).
func (s *Store) MaxConns() int { return int(s.pool.Config().MaxConns) }

// PoolStats is the state of the Store's connection pool at one instant.
type PoolStats struct {
	// Acquired, Idle and Total count the pool's connections in use, idle
	// and open; Max is the most it opens.
	Acquired, Idle, Total, Max int32
	// Acquires counts the connections taken from the pool, EmptyAcquires
	// those that had to wait for one, and AcquireDuration the time spent
	// waiting, all since the pool opened.
	Acquires, EmptyAcquires int64
	AcquireDuration         time.Duration
}

// PoolStats returns the pool's state now.
func (s *Store) PoolStats() PoolStats {
	st := s.pool.Stat()
	return PoolStats{
		Acquired: st.AcquiredConns(), Idle: st.IdleConns(), Total: st.TotalConns(), Max: st.MaxConns(),
		Acquires: st.AcquireCount(), EmptyAcquires: st.EmptyAcquireCount(), AcquireDuration: st.AcquireDuration(),
	}
}
