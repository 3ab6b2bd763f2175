package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/featurestore/featurestore/internal/ingest"
)

// Querier is what Interactions reads through: a pool, a connection or a
// transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Interactions returns the rows of user_interactions that match the SQL
// condition where (with args as its parameters), in id order, so that tests
// can compare what was stored field by field.
func Interactions(t testing.TB, q Querier, where string, args ...any) []ingest.Interaction {
	t.Helper()
	rows, err := q.Query(context.Background(), `
SELECT id, shop_id, customer_id, product_id, event_type, page_type, device_type, referrer_type, view_duration, created_at,
       client_id, metadata::text
  FROM user_interactions WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		t.Fatalf("read user_interactions: %v", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ingest.Interaction, error) {
		var r ingest.Interaction
		var metadata *string
		err := row.Scan(&r.ID, &r.ShopID, &r.CustomerID, &r.ProductID, &r.EventType, &r.PageType,
			&r.DeviceType, &r.ReferrerType, &r.ViewDuration, &r.CreatedAt, &r.ClientID, &metadata)
		r.CreatedAt = r.CreatedAt.UTC()
		if metadata != nil {
			r.Metadata = []byte(*metadata)
		}
		return r, err
	})
	if err != nil {
		t.Fatalf("read user_interactions: %v", err)
	}
	return out
}

// DiffInteraction describes how a stored row differs from the row that was
// sent, field by field, or returns "" when they match. Postgres keeps
// timestamps to the microsecond, so want's created_at is compared at that
// precision.
func DiffInteraction(got, want ingest.Interaction) string {
	var diffs []string
	text := func(name, g, w string) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	optional := func(name string, g, w *string) {
		if (g == nil) != (w == nil) || (g != nil && *g != *w) {
			diffs = append(diffs, fmt.Sprintf("%s = %s, want %s", name, show(g), show(w)))
		}
	}
	text("id", got.ID, want.ID)
	text("shop_id", got.ShopID, want.ShopID)
	optional("customer_id", got.CustomerID, want.CustomerID)
	optional("product_id", got.ProductID, want.ProductID)
	text("event_type", got.EventType, want.EventType)
	optional("page_type", got.PageType, want.PageType)
	optional("device_type", got.DeviceType, want.DeviceType)
	optional("referrer_type", got.ReferrerType, want.ReferrerType)
	if g, w := got.ViewDuration, want.ViewDuration; (g == nil) != (w == nil) || (g != nil && *g != *w) {
		diffs = append(diffs, fmt.Sprintf("view_duration = %s, want %s", show(g), show(w)))
	}
	optional("client_id", got.ClientID, want.ClientID)
	if !sameJSON(got.Metadata, want.Metadata) {
		diffs = append(diffs, fmt.Sprintf("metadata = %s, want %s", showJSON(got.Metadata), showJSON(want.Metadata)))
	}
	if w := want.CreatedAt.Truncate(time.Microsecond); !got.CreatedAt.Equal(w) {
		diffs = append(diffs, fmt.Sprintf("created_at = %s, want %s", got.CreatedAt.Format(time.RFC3339Nano), w.Format(time.RFC3339Nano)))
	}
	return strings.Join(diffs, "; ")
}

// sameJSON reports whether two JSON texts (nil for NULL) hold the same
// value, as jsonb compares them: whatever their spacing and key order.
func sameJSON(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

// showJSON prints a JSON text, NULL for nil.
func showJSON(b []byte) string {
	if b == nil {
		return "NULL"
	}
	return string(b)
}

// show prints an optional value, NULL for nil.
func show[T any](p *T) string {
	if p == nil {
		return "NULL"
	}
	return fmt.Sprintf("%#v", *p)
}
