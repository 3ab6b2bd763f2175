package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestFloorsCopyWhatTheStoreReads checks that each floor's COPY delivers
// exactly as many rows as the read it stands beside: the events of a
// scan, and the rows of an export.
func TestFloorsCopyWhatTheStoreReads(t *testing.T) {
	t.Parallel()
	pool, url := testenv.GoldenPostgres(t)
	ctx := context.Background()
	st := store.New(pool)
	// A customer id that needs quoting in a literal.
	if _, err := pool.Exec(ctx, `INSERT INTO user_interactions (id, shop_id, customer_id, product_id, event_type, created_at)
		VALUES ('q', 'shop-0', 'O''Brien \ "x"', 'p', 'product_viewed', '2025-01-01')`); err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	scanned := func() int64 {
		var events int64
		if err := st.ScanPairs(ctx, store.ScanRequest{ShopID: "shop-0", AsOf: asOf}, func(p *store.Pair) error {
			events += int64(len(p.Events))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return events
	}
	events := scanned()
	scan, err := scanFloor(ctx, url, "shop-0", asOf)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := copyRows(ctx, pool, scan, io.Discard); err != nil || n != events {
		t.Errorf("the scan's floor copied %d rows (%v), the scan read %d events", n, err, events)
	}
	// With anonymous clients to resolve, the scan reads through another
	// statement; its floor copies that one.
	if _, err := pool.Exec(ctx, `INSERT INTO user_interactions (id, shop_id, customer_id, client_id, product_id, event_type, created_at) VALUES
		('k1', 'shop-0', 'c1', 'k', NULL, 'page_viewed', '2025-01-01'), ('k2', 'shop-0', NULL, 'k', 'p', 'product_viewed', '2025-01-02')`); err != nil {
		t.Fatal(err)
	}
	if resolved := scanned(); resolved != events+1 {
		t.Fatalf("with a linked client the scan read %d events, want %d", resolved, events+1)
	}
	if scan, err = scanFloor(ctx, url, "shop-0", asOf); err != nil {
		t.Fatal(err)
	}
	if n, err := copyRows(ctx, pool, scan, io.Discard); err != nil || n != events+1 {
		t.Errorf("the resolving scan's floor copied %d rows (%v), the scan read %d events", n, err, events+1)
	}

	if _, err := st.SeedFeatureRows(ctx, "stored", 30, 7); err != nil {
		t.Fatal(err)
	}
	export, err := exportFloor(ctx, url, "stored")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := copyRows(ctx, pool, export, io.Discard); err != nil || n != 30*7 {
		t.Errorf("the export's floor copied %d rows (%v), want %d", n, err, 30*7)
	}
}

func TestInline(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 1, 2, 3, 4000, time.UTC)
	for _, tc := range []struct {
		sql  string
		args []any
		want string
	}{
		{"SELECT $1, $2", []any{"it's", at}, `SELECT 'it''s', '2025-06-01T01:02:03.000004Z'::timestamptz`},
		{"x = ANY($1::text[]) AND y = $10", []any{[]string{"a", "b'"}, "2", "3", "4", "5", "6", "7", "8", "9", "ten"},
			`x = ANY(ARRAY['a','b''']::text[]::text[]) AND y = 'ten'`},
	} {
		got, err := inline(tc.sql, tc.args)
		if err != nil || got != tc.want {
			t.Errorf("inline(%q) = %q, %v; want %q", tc.sql, got, err, tc.want)
		}
	}
	if _, err := inline("SELECT $2", []any{"one"}); err == nil {
		t.Error("inline accepted a placeholder without a parameter")
	}
	if _, err := inline("SELECT $1", []any{3.5}); err == nil {
		t.Error("inline accepted a parameter it has no literal for")
	}
}
