package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PixelSession is the state pixel_sessions keeps of one web pixel client
// (a browser, by its clientId) between its requests: what it takes to set a
// product view's duration when the client's next event arrives.
type PixelSession struct {
	ClientID string
	// LastEventAt is the client's latest event time; zero when none yet.
	LastEventAt time.Time
	// ViewID is the row id of the client's product view waiting for its
	// next event, "" when none; ViewAt is its time.
	ViewID string
	ViewAt time.Time
}

// ViewDuration sets the view_duration of a stored product view.
type ViewDuration struct {
	ID      string
	Seconds float64
}

// PixelWrite is what one pixel request stores.
type PixelWrite struct {
	// Rows are the request's interactions, validated (see
	// WriteInteractions); nil or empty when it has none.
	Rows InteractionSource
	// Durations set the durations of views stored by earlier requests. A
	// view that has a duration already keeps it.
	Durations []ViewDuration
	// Sessions are the clients' new states, one for each client that was
	// locked; the others keep theirs.
	Sessions []PixelSession
}

// StorePixelEvents stores one pixel request of a shop in one transaction.
// It locks the sessions of clients (creating those that do not exist yet,
// with zero state), so that two requests of one client take turns, and
// calls plan with them, in clients' order; then it stores what plan
// returns: the rows (as WriteInteractions does), the durations and the
// sessions' new states. clients must be sorted and distinct: locking in
// one order keeps requests from deadlocking. An error from plan rolls
// everything back and is returned as it is.
func (s *Store) StorePixelEvents(ctx context.Context, shopID string, clients []string,
	plan func(sessions []PixelSession) (PixelWrite, error)) (IngestResult, error) {
	var res IngestResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sessions, err := lockSessions(ctx, tx, shopID, clients)
		if err != nil {
			return err
		}
		w, err := plan(sessions)
		if err != nil {
			return err
		}
		if w.Rows != nil && w.Rows.Len() > 0 {
			if res, err = writeInteractions(ctx, tx, w.Rows); err != nil {
				return fmt.Errorf("ingest %d interactions: %w", w.Rows.Len(), err)
			}
		}
		if err := setDurations(ctx, tx, shopID, w.Durations); err != nil {
			return err
		}
		return saveSessions(ctx, tx, shopID, w.Sessions)
	})
	if err != nil {
		return IngestResult{}, translate(err)
	}
	return res, nil
}

// lockSessions reads and locks the sessions of clients, creating those
// that do not exist yet, and returns them in the order of clients.
func lockSessions(ctx context.Context, tx pgx.Tx, shopID string, clients []string) ([]PixelSession, error) {
	if len(clients) == 0 {
		return nil, nil
	}
	// One statement creates the missing sessions and locks them all: a
	// separate SELECT ... FOR UPDATE could find a row gone that the pruner
	// deleted in between. The no-op update is what takes the lock.
	rows, err := tx.Query(ctx, `
INSERT INTO pixel_sessions AS p (shop_id, client_id)
SELECT $1, c FROM unnest($2::text[]) AS c ORDER BY c
    ON CONFLICT (shop_id, client_id) DO UPDATE SET client_id = p.client_id
RETURNING client_id, last_event_at, view_id, view_at`, shopID, clients)
	if err != nil {
		return nil, fmt.Errorf("lock pixel sessions: %w", err)
	}
	byClient := make(map[string]PixelSession, len(clients))
	var (
		s            PixelSession
		last, viewAt *time.Time
		viewID       *string
	)
	_, err = pgx.ForEachRow(rows, []any{&s.ClientID, &last, &viewID, &viewAt}, func() error {
		t := PixelSession{ClientID: s.ClientID}
		if last != nil {
			t.LastEventAt = *last
		}
		if viewID != nil && viewAt != nil {
			t.ViewID, t.ViewAt = *viewID, *viewAt
		}
		byClient[t.ClientID] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock pixel sessions: %w", err)
	}
	out := make([]PixelSession, len(clients))
	for i, c := range clients {
		out[i] = byClient[c]
		out[i].ClientID = c
	}
	return out, nil
}

// setDurations sets the durations of views stored by earlier requests.
// A view that has a duration already keeps it.
func setDurations(ctx context.Context, tx pgx.Tx, shopID string, durations []ViewDuration) error {
	if len(durations) == 0 {
		return nil
	}
	ids := make([]string, len(durations))
	seconds := make([]float64, len(durations))
	for i, d := range durations {
		ids[i], seconds[i] = d.ID, d.Seconds
	}
	_, err := tx.Exec(ctx, `
UPDATE user_interactions u SET view_duration = d.seconds
  FROM unnest($2::text[], $3::float8[]) AS d(id, seconds)
 WHERE u.id = d.id AND u.shop_id = $1 AND u.view_duration IS NULL`, shopID, ids, seconds)
	if err != nil {
		return fmt.Errorf("set view durations: %w", err)
	}
	return nil
}

// saveSessions writes the sessions back.
func saveSessions(ctx context.Context, tx pgx.Tx, shopID string, sessions []PixelSession) error {
	if len(sessions) == 0 {
		return nil
	}
	clients := make([]string, len(sessions))
	last := make([]*time.Time, len(sessions))
	viewIDs := make([]*string, len(sessions))
	viewAts := make([]*time.Time, len(sessions))
	for i := range sessions {
		s := &sessions[i]
		clients[i] = s.ClientID
		if !s.LastEventAt.IsZero() {
			last[i] = &s.LastEventAt
		}
		if s.ViewID != "" {
			viewIDs[i], viewAts[i] = &s.ViewID, &s.ViewAt
		}
	}
	_, err := tx.Exec(ctx, `
UPDATE pixel_sessions s SET last_event_at = d.last_event_at, view_id = d.view_id, view_at = d.view_at, updated_at = now()
  FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::timestamptz[]) AS d(client_id, last_event_at, view_id, view_at)
 WHERE s.shop_id = $1 AND s.client_id = d.client_id`, shopID, clients, last, viewIDs, viewAts)
	if err != nil {
		return fmt.Errorf("save pixel sessions: %w", err)
	}
	return nil
}

// PrunePixelSessions removes the sessions of clients idle for longer than
// idle, and returns how many it removed.
func (s *Store) PrunePixelSessions(ctx context.Context, idle time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM pixel_sessions WHERE updated_at < now() - $1::interval`, idle)
	if err != nil {
		return 0, translate(fmt.Errorf("prune pixel sessions: %w", err))
	}
	return tag.RowsAffected(), nil
}
