package pixel

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/store"
)

// A product view's duration is the time until the same client's next
// event: the visitor moved on. Events of one client arrive in separate
// requests, so the view still waiting for its next event is kept in
// pixel_sessions, one row per (shop, clientId): the client's latest event
// time and its pending view. A request that brings the client's next event
// sets the pending view's view_duration, in the same transaction that stores
// the request's rows; a view followed within the same request gets its
// duration before it is stored.
//
// The gap is stored as it is: the kernel caps long views at 1800 s. But a
// gap longer than sessionGap is no view at all, the visitor left and came
// back, so such a view keeps no duration (NULL: missing), as FEATURES.md
// ends a session at the same 1800 s. An event older than the client's
// latest one arrived late (requests overtake each other): it sets no
// duration, so that a view is measured to the next event in time, not in
// arrival order.
//
// The state is bounded: a client idle for sessionTTL can set no duration
// any more, and PruneSessions removes it.
const (
	sessionGap = 30 * time.Minute
	sessionTTL = 2 * sessionGap
)

// session is one client's state while a request is processed.
type session struct {
	clientID string
	// lastEventAt is the client's latest event time; zero when none yet.
	lastEventAt time.Time
	// viewID is the row id of the client's product view waiting for its
	// next event, "" when none; viewAt is its time.
	viewID string
	viewAt time.Time
	// viewRow is the pending view's index in this request's rows, or -1
	// when it was stored by an earlier request.
	viewRow int
}

// timing is one event's place in its client's sequence.
type timing struct {
	clientID string
	at       time.Time
	// viewRow is the index in the request's rows of the product view this
	// event is, or -1.
	viewRow int
}

// durationUpdate sets the duration of a view stored by an earlier request.
type durationUpdate struct {
	id      string
	seconds float64
}

// advance moves s past one event: it ends the pending view, if the event
// comes after it, and makes a product view the pending one. It sets the
// duration of a view among rows directly and returns the update for one
// already stored, if any.
func (s *session) advance(t timing, rows []ingest.Interaction) (durationUpdate, bool) {
	if t.at.Before(s.lastEventAt) {
		return durationUpdate{}, false // late: the client has moved past it
	}
	s.lastEventAt = t.at
	var update durationUpdate
	var ended bool
	if s.viewID != "" && t.at.After(s.viewAt) {
		if gap := t.at.Sub(s.viewAt); gap <= sessionGap {
			seconds := gap.Seconds()
			if s.viewRow >= 0 {
				rows[s.viewRow].ViewDuration = &seconds
			} else {
				update, ended = durationUpdate{id: s.viewID, seconds: seconds}, true
			}
		}
		s.viewID = ""
	}
	// A view sent again (same id) stays the stored one it already is.
	if t.viewRow >= 0 && rows[t.viewRow].ID != s.viewID {
		s.viewID, s.viewAt, s.viewRow = rows[t.viewRow].ID, t.at, t.viewRow
	}
	return update, ended
}

// storeWithSessions stores rows and advances the sessions of the clients
// in timings, all in one transaction. timings must be sorted by client,
// then time.
func (h *Handler) storeWithSessions(ctx context.Context, shopID string, rows ingest.Rows, timings []timing) (ingest.Result, error) {
	var res ingest.Result
	if len(rows) == 0 && len(timings) == 0 {
		return res, nil
	}
	err := pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
		sessions, err := lockSessions(ctx, tx, shopID, timings)
		if err != nil {
			return err
		}
		var updates []durationUpdate
		for _, t := range timings {
			s := sessions[t.clientID]
			if u, ok := s.advance(t, rows); ok {
				updates = append(updates, u)
			}
		}
		if len(rows) > 0 {
			if res, err = h.writer.IngestTx(ctx, tx, rows); err != nil {
				return err
			}
		}
		if err := setDurations(ctx, tx, shopID, updates); err != nil {
			return err
		}
		return saveSessions(ctx, tx, shopID, sessions)
	})
	if err != nil {
		return ingest.Result{}, store.Translate(err)
	}
	return res, nil
}

// lockSessions reads and locks the sessions of the clients in timings,
// creating those that do not exist yet, so that two requests of one client
// take turns. Rows are locked in client order, so requests never deadlock.
// Every client in timings gets a session in the map.
func lockSessions(ctx context.Context, tx pgx.Tx, shopID string, timings []timing) (map[string]*session, error) {
	var clients []string
	for _, t := range timings {
		if len(clients) == 0 || clients[len(clients)-1] != t.clientID {
			clients = append(clients, t.clientID)
		}
	}
	sessions := make(map[string]*session, len(clients))
	if len(clients) == 0 {
		return sessions, nil
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
	var (
		s            session
		last, viewAt *time.Time
		viewID       *string
	)
	_, err = pgx.ForEachRow(rows, []any{&s.clientID, &last, &viewID, &viewAt}, func() error {
		t := s
		t.viewRow = -1
		if last != nil {
			t.lastEventAt = *last
		}
		if viewID != nil && viewAt != nil {
			t.viewID, t.viewAt = *viewID, *viewAt
		}
		sessions[t.clientID] = &t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock pixel sessions: %w", err)
	}
	return sessions, nil
}

// setDurations sets the durations of views stored by earlier requests.
// A view that has a duration already keeps it.
func setDurations(ctx context.Context, tx pgx.Tx, shopID string, updates []durationUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	ids := make([]string, len(updates))
	seconds := make([]float64, len(updates))
	for i, u := range updates {
		ids[i], seconds[i] = u.id, u.seconds
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
func saveSessions(ctx context.Context, tx pgx.Tx, shopID string, sessions map[string]*session) error {
	if len(sessions) == 0 {
		return nil
	}
	clients := slices.Sorted(maps.Keys(sessions))
	last := make([]*time.Time, len(clients))
	viewIDs := make([]*string, len(clients))
	viewAts := make([]*time.Time, len(clients))
	for i, c := range clients {
		s := sessions[c]
		if !s.lastEventAt.IsZero() {
			last[i] = &s.lastEventAt
		}
		if s.viewID != "" {
			viewIDs[i], viewAts[i] = &s.viewID, &s.viewAt
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

// KeepSessionsPruned runs PruneSessions every interval until ctx ends. A
// failed prune is logged and retried at the next tick: it only lets the
// table hold idle clients a little longer.
func KeepSessionsPruned(ctx context.Context, pool *pgxpool.Pool, interval time.Duration, logger *slog.Logger) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if n, err := PruneSessions(ctx, pool); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "pixel: prune sessions", "error", err)
		} else if n > 0 {
			logger.DebugContext(ctx, "pixel: pruned idle sessions", "count", n)
		}
	}
}

// PruneSessions removes the state of clients idle for longer than any
// duration can span, and returns how many it removed.
func PruneSessions(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	tag, err := pool.Exec(ctx, `DELETE FROM pixel_sessions WHERE updated_at < now() - $1::interval`, sessionTTL)
	if err != nil {
		return 0, store.Translate(fmt.Errorf("prune pixel sessions: %w", err))
	}
	return tag.RowsAffected(), nil
}
