package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestStorePixelEvents stores two requests of a client: the second sees
// the state the first saved and sets the duration of the first's view; a
// third request whose plan fails stores nothing at all, not even the
// sessions it locked.
func TestStorePixelEvents(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	ctx := context.Background()
	at := time.Date(2025, 5, 20, 10, 0, 0, 0, time.UTC)
	view := store.Interaction{ID: "shop/v1", ShopID: "shop", EventType: "product_viewed", CreatedAt: at}

	res, err := st.StorePixelEvents(ctx, "shop", []string{"a", "b"}, func(s []store.PixelSession) (store.PixelWrite, error) {
		if !slices.Equal([]string{s[0].ClientID, s[1].ClientID}, []string{"a", "b"}) || !s[0].LastEventAt.IsZero() || s[0].ViewID != "" {
			t.Errorf("new sessions %+v, want a and b with no state", s)
		}
		return store.PixelWrite{
			Rows:     store.InteractionRows{view},
			Sessions: []store.PixelSession{{ClientID: "a", LastEventAt: at, ViewID: view.ID, ViewAt: at}, {ClientID: "b", LastEventAt: at}},
		}, nil
	})
	if err != nil || res.Inserted != 1 {
		t.Fatalf("first request: %+v, %v", res, err)
	}

	_, err = st.StorePixelEvents(ctx, "shop", []string{"a"}, func(s []store.PixelSession) (store.PixelWrite, error) {
		if s[0].ViewID != view.ID || !s[0].ViewAt.Equal(at) || !s[0].LastEventAt.Equal(at) {
			t.Errorf("stored session %+v, want the first request's view", s[0])
		}
		return store.PixelWrite{
			Durations: []store.ViewDuration{{ID: view.ID, Seconds: 42}},
			Sessions:  []store.PixelSession{{ClientID: "a", LastEventAt: at.Add(42 * time.Second)}},
		}, nil
	})
	if err != nil {
		t.Fatalf("second request: %v", err)
	}
	if got := testenv.Interactions(t, pool, "id = $1", view.ID); len(got) != 1 || got[0].ViewDuration == nil || *got[0].ViewDuration != 42 {
		t.Errorf("the view after the second request: %+v, want a duration of 42 s", got)
	}

	refused := errors.New("refused")
	_, err = st.StorePixelEvents(ctx, "shop", []string{"c"}, func([]store.PixelSession) (store.PixelWrite, error) {
		return store.PixelWrite{}, refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("a failing plan: %v, want its error", err)
	}
	var sessions int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pixel_sessions`).Scan(&sessions); err != nil || sessions != 2 {
		t.Errorf("%d sessions (%v) after a failed request, want the 2 of the first", sessions, err)
	}
	if n, err := st.PrunePixelSessions(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("PrunePixelSessions of fresh sessions = %d, %v; want 0", n, err)
	}
}
