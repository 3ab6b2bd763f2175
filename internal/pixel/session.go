package pixel

import (
	"context"
	"log/slog"
	"time"

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

// session is one client's state while a request is processed: its stored
// state, and where its pending view is.
type session struct {
	store.PixelSession
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

// advance moves s past one event: it ends the pending view, if the event
// comes after it, and makes a product view the pending one. It sets the
// duration of a view among rows directly and returns the update for one
// already stored, if any.
func (s *session) advance(t timing, rows []ingest.Interaction) (store.ViewDuration, bool) {
	if t.at.Before(s.LastEventAt) {
		return store.ViewDuration{}, false // late: the client has moved past it
	}
	s.LastEventAt = t.at
	var update store.ViewDuration
	var ended bool
	if s.ViewID != "" && t.at.After(s.ViewAt) {
		if gap := t.at.Sub(s.ViewAt); gap <= sessionGap {
			seconds := gap.Seconds()
			if s.viewRow >= 0 {
				rows[s.viewRow].ViewDuration = &seconds
			} else {
				update, ended = store.ViewDuration{ID: s.ViewID, Seconds: seconds}, true
			}
		}
		s.ViewID = ""
	}
	// A view sent again (same id) stays the stored one it already is.
	if t.viewRow >= 0 && rows[t.viewRow].ID != s.ViewID {
		s.ViewID, s.ViewAt, s.viewRow = rows[t.viewRow].ID, t.at, t.viewRow
	}
	return update, ended
}

// storeWithSessions validates rows, and stores them and advances the
// sessions of the clients in timings, all in one transaction. timings must
// be sorted by client, then time.
func (h *Handler) storeWithSessions(ctx context.Context, shopID string, rows ingest.Rows, timings []timing) (ingest.Result, error) {
	if len(rows) == 0 && len(timings) == 0 {
		return ingest.Result{}, nil
	}
	var clients []string
	for _, t := range timings {
		if len(clients) == 0 || clients[len(clients)-1] != t.clientID {
			clients = append(clients, t.clientID)
		}
	}
	// receivedAt bounds created_at: an event cannot have happened after its
	// request arrived, and prepare already moved it back to then.
	receivedAt := h.now()
	return h.store.StorePixelEvents(ctx, shopID, clients, func(locked []store.PixelSession) (store.PixelWrite, error) {
		sessions := make(map[string]*session, len(locked))
		for _, l := range locked {
			sessions[l.ClientID] = &session{PixelSession: l, viewRow: -1}
		}
		var w store.PixelWrite
		for _, t := range timings {
			if d, ok := sessions[t.clientID].advance(t, rows); ok {
				w.Durations = append(w.Durations, d)
			}
		}
		if len(rows) > 0 {
			if err := ingest.Validate(rows, receivedAt); err != nil {
				return w, err
			}
			w.Rows = rows
		}
		w.Sessions = make([]store.PixelSession, len(locked))
		for i, l := range locked {
			w.Sessions[i] = sessions[l.ClientID].PixelSession
		}
		return w, nil
	})
}

// KeepSessionsPruned runs PruneSessions every interval until ctx ends. A
// failed prune is logged and retried at the next tick: it only lets the
// table hold idle clients a little longer.
func KeepSessionsPruned(ctx context.Context, st Store, interval time.Duration, logger *slog.Logger) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if n, err := PruneSessions(ctx, st); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "pixel: prune sessions", "error", err)
		} else if n > 0 {
			logger.DebugContext(ctx, "pixel: pruned idle sessions", "count", n)
		}
	}
}

// PruneSessions removes the state of clients idle for longer than any
// duration can span, and returns how many it removed.
func PruneSessions(ctx context.Context, st Store) (int64, error) {
	return st.PrunePixelSessions(ctx, sessionTTL)
}
