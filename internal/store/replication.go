package store

import (
	"context"
	"fmt"
)

// WALInsertLSN returns the position up to which the server has inserted
// WAL, as a byte offset: every transaction committed before the call has its
// commit record before it, synchronous_commit off or not. Ask it of the
// primary.
func (s *Store) WALInsertLSN(ctx context.Context) (uint64, error) {
	var lsn int64
	if err := s.pool.QueryRow(ctx, `SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint`).Scan(&lsn); err != nil {
		return 0, translate(fmt.Errorf("read the primary's WAL position: %w", err))
	}
	return uint64(lsn), nil
}

// ReplayLSN returns the position up to which a streaming replica has
// replayed the primary's WAL, as a byte offset, and false when the server
// is not in recovery (not a replica, or one promoted since), which has no
// such position. Ask it of the replica.
func (s *Store) ReplayLSN(ctx context.Context) (uint64, bool, error) {
	var lsn int64
	var standby bool
	err := s.pool.QueryRow(ctx, `SELECT pg_is_in_recovery(), COALESCE((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, 0)`).Scan(&standby, &lsn)
	if err != nil {
		return 0, false, translate(fmt.Errorf("read the replica's replay position: %w", err))
	}
	return uint64(lsn), standby, nil
}
