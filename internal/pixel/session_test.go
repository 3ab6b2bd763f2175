package pixel_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestPixelViewDuration sends each scenario's requests in order and checks
// the view_duration of its product views: the time until the same
// client's next event, NULL while there is none or when the client left.
func TestPixelViewDuration(t *testing.T) {
	t.Parallel()
	h, pool := newHandler(t, pixel.Config{})
	at := func(seconds float64) time.Time { return t0.Add(time.Duration(seconds * float64(time.Second))) }
	// ev returns an event of the scenario's client; a view when name is
	// product_viewed.
	type ev struct {
		name, id, client string
		at               time.Time
	}
	build := func(e ev) map[string]any {
		data := map[string]any(nil)
		if e.name == "product_viewed" {
			data = map[string]any{"productVariant": variant("1")}
		}
		out := pixelEvent(e.name, e.id, e.at, productPage, data)
		out["clientId"] = e.client
		return out
	}
	view := func(id, client string, at time.Time) ev { return ev{"product_viewed", id, client, at} }
	page := func(id, client string, at time.Time) ev { return ev{"page_viewed", id, client, at} }

	for _, tc := range []struct {
		name     string
		requests [][]ev
		want     map[string]*float64 // view id -> duration
	}{
		{
			name:     "the next event arrives in a later request",
			requests: [][]ev{{view("a1", "a", at(0))}, {page("a2", "a", at(42.5))}},
			want:     map[string]*float64{"a1": ptr(42.5)},
		},
		{
			name:     "the next event is in the same request",
			requests: [][]ev{{view("b1", "b", at(0)), ev{"product_added_to_cart", "b2", "b", at(7)}}},
			want:     map[string]*float64{"b1": ptr(7.0)},
		},
		{
			name:     "views in a row, sent out of order in one request",
			requests: [][]ev{{view("c2", "c", at(10)), view("c1", "c", at(0))}, {page("c3", "c", at(25))}},
			want:     map[string]*float64{"c1": ptr(10.0), "c2": ptr(15.0)},
		},
		{
			name:     "a view waits while there is no next event",
			requests: [][]ev{{view("d1", "d", at(0))}},
			want:     map[string]*float64{"d1": nil},
		},
		{
			name:     "the client left: a gap longer than a session sets nothing",
			requests: [][]ev{{view("e1", "e", at(0))}, {page("e2", "e", at(1800.5))}, {view("e3", "e", at(1900))}, {page("e4", "e", at(1900+1800))}},
			want:     map[string]*float64{"e1": nil, "e3": ptr(1800.0)},
		},
		{
			name: "a late event sets no duration",
			requests: [][]ev{
				{view("f1", "f", at(0))}, {page("f2", "f", at(60))}, {page("f-late", "f", at(30))},
				{view("f3", "f", at(100))}, {page("f-late2", "f", at(50))}, {page("f4", "f", at(130))},
			},
			want: map[string]*float64{"f1": ptr(60.0), "f3": ptr(30.0)},
		},
		{
			name:     "another client's event does not end a view",
			requests: [][]ev{{view("g1", "g", at(0))}, {page("h1", "h", at(5))}, {page("g2", "g", at(20))}},
			want:     map[string]*float64{"g1": ptr(20.0)},
		},
		{
			name:     "a view sent again keeps its duration",
			requests: [][]ev{{view("i1", "i", at(0))}, {page("i2", "i", at(10))}, {view("i1", "i", at(0))}, {page("i3", "i", at(20))}},
			want:     map[string]*float64{"i1": ptr(10.0)},
		},
		{
			name:     "a view sent again while it waits is still measured",
			requests: [][]ev{{view("j1", "j", at(0))}, {view("j1", "j", at(0))}, {page("j2", "j", at(9))}},
			want:     map[string]*float64{"j1": ptr(9.0)},
		},
		{
			name:     "without a clientId there is no session",
			requests: [][]ev{{view("k1", "", at(0)), page("k2", "", at(5))}},
			want:     map[string]*float64{"k1": nil},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range tc.requests {
				events := make([]any, len(req))
				for i, e := range req {
					events[i] = build(e)
				}
				decode(t, post(t, h, "/v1/pixel/"+shop, events, nil), http.StatusOK)
			}
			for id, want := range tc.want {
				got := testenv.Interactions(t, pool, "id = $1", shop+"/"+id)
				if len(got) != 1 {
					t.Fatalf("view %s: %d rows", id, len(got))
				}
				if d := got[0].ViewDuration; (d == nil) != (want == nil) || (d != nil && *d != *want) {
					t.Errorf("view %s: view_duration = %v, want %v", id, deref(d), deref(want))
				}
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return "NULL"
	}
	return *p
}

// TestPruneSessions checks that only the state of clients idle for longer
// than a duration can span is removed.
func TestPruneSessions(t *testing.T) {
	t.Parallel()
	h, pool := newHandler(t, pixel.Config{})
	ctx := context.Background()
	for _, client := range []string{"idle", "active"} {
		ev := pixelEvent("product_viewed", "ev-"+client, t0, productPage, map[string]any{"productVariant": variant("1")})
		ev["clientId"] = client
		decode(t, post(t, h, "/v1/pixel/"+shop, ev, nil), http.StatusOK)
	}
	if _, err := pool.Exec(ctx, `UPDATE pixel_sessions SET updated_at = now() - interval '61 minutes' WHERE client_id = 'idle'`); err != nil {
		t.Fatal(err)
	}
	n, err := pixel.PruneSessions(ctx, store.New(pool))
	if err != nil || n != 1 {
		t.Fatalf("PruneSessions = %d, %v; want 1 removed", n, err)
	}
	var left []string
	rows, _ := pool.Query(ctx, `SELECT client_id FROM pixel_sessions`)
	for rows.Next() {
		var c string
		_ = rows.Scan(&c)
		left = append(left, c)
	}
	if rows.Err() != nil || len(left) != 1 || left[0] != "active" {
		t.Errorf("sessions left: %v (%v), want [active]", left, rows.Err())
	}
}
