package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// tableCounts returns the shop's row count in each input table.
func tableCounts(t testing.TB, pool *pgxpool.Pool, shopID string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range tables {
		var n int64
		if err := pool.QueryRow(context.Background(),
			"SELECT count(*) FROM "+tb.name+" WHERE shop_id = $1", shopID).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", tb.name, err)
		}
		out[tb.name] = n
	}
	return out
}

// tableDigests returns an md5 over each input table's rows of the shop, in
// id order.
func tableDigests(t testing.TB, pool *pgxpool.Pool, shopID string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range tables {
		var sum string
		q := fmt.Sprintf(`SELECT coalesce(md5(string_agg(r::text, E'\n' ORDER BY r.id COLLATE "C")), '')
			FROM %s r WHERE r.shop_id = $1`, tb.name)
		if err := pool.QueryRow(context.Background(), q, shopID).Scan(&sum); err != nil {
			t.Fatalf("digest %s: %v", tb.name, err)
		}
		out[tb.name] = sum
	}
	return out
}

func seed(t testing.TB, pool *pgxpool.Pool, cfg Config) Stats {
	t.Helper()
	stats, err := Seed(context.Background(), store.New(pool), cfg, nil)
	if err != nil {
		t.Fatalf("Seed(%s): %v", cfg.ShopID, err)
	}
	return stats
}

func TestSeed(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	cfg := DefaultConfig()

	if has, err := store.New(pool).HasInteractions(ctx, cfg.ShopID); err != nil || has {
		t.Fatalf("HasInteractions before seeding = %v, %v; want false", has, err)
	}
	var reports []Stats
	stats, err := Seed(ctx, store.New(pool), cfg, func(s Stats) { reports = append(reports, s) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %+v: %.0f events/s", stats, float64(stats.Events)/stats.Duration.Seconds())
	if has, err := store.New(pool).HasInteractions(ctx, cfg.ShopID); err != nil || !has {
		t.Fatalf("HasInteractions after seeding = %v, %v; want true", has, err)
	}

	want := map[string]int64{
		"product_data":      int64(cfg.Products),
		"customer_data":     int64(cfg.Customers),
		"order_data":        int64(cfg.Orders),
		"line_item_data":    stats.LineItems,
		"user_interactions": int64(cfg.Events),
	}
	got := tableCounts(t, pool, cfg.ShopID)
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s has %d rows, want %d", name, got[name], n)
		}
	}
	if stats.Products != want["product_data"] || stats.Customers != want["customer_data"] ||
		stats.Orders != want["order_data"] || stats.Events != want["user_interactions"] ||
		stats.LineItems < stats.Orders {
		t.Errorf("Stats = %+v, want the table counts %v", stats, want)
	}
	// One report after each table, and one per 65,536 events (none here).
	if len(reports) != len(tables) || reports[len(reports)-1].Events != stats.Events {
		t.Errorf("progress reported %+v, want one report per table ending with every event", reports)
	}

	// Every timestamp lies in the history, and every customer's checkout is
	// a line of an order of theirs at the same instant.
	var outside, unmatched int
	err = pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM user_interactions WHERE shop_id = $1 AND created_at NOT BETWEEN $2 AND $3)
		     + (SELECT count(*) FROM order_data WHERE shop_id = $1 AND created_at NOT BETWEEN $2 AND $3),
		       (SELECT count(*) FROM user_interactions e
		         WHERE e.shop_id = $1 AND e.event_type = 'checkout_completed' AND e.customer_id IS NOT NULL
		           AND NOT EXISTS (
		               SELECT 1 FROM order_data o JOIN line_item_data l ON l.shop_id = o.shop_id AND l.order_id = o.order_id
		                WHERE o.shop_id = e.shop_id AND o.customer_id = e.customer_id
		                  AND o.created_at = e.created_at AND l.product_id = e.product_id))`,
		cfg.ShopID, cfg.End.AddDate(0, 0, -cfg.Days), cfg.End).Scan(&outside, &unmatched)
	if err != nil {
		t.Fatal(err)
	}
	if outside != 0 || unmatched != 0 {
		t.Errorf("%d rows outside the history, %d checkouts without an order line", outside, unmatched)
	}

	// The stored rows are the generated ones: numerics, NULLs and
	// timestamps survive the trip.
	g := generate(t, cfg)
	var title, price, created string
	row := g["product_data"].rows[0]
	err = pool.QueryRow(ctx, `SELECT title, price::text, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
		FROM product_data WHERE id = $1`, row[0]).Scan(&title, &price, &created)
	if err != nil {
		t.Fatal(err)
	}
	if wantPrice := render(row[4]); title != row[3] || created != row[7].(time.Time).Format("2006-01-02T15:04:05.000000") ||
		wantPrice != price[:len(price)-3]+price[len(price)-2:]+"e-2" {
		t.Errorf("stored product %q %s %s, generated %v", title, price, created, row)
	}

	// A second seed of the same shop is refused and changes nothing.
	if _, err := Seed(ctx, store.New(pool), cfg, nil); !errors.Is(err, ErrShopNotEmpty) {
		t.Fatalf("second Seed = %v, want ErrShopNotEmpty", err)
	}
	if again := tableCounts(t, pool, cfg.ShopID); fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("refused seed changed the counts from %v to %v", got, again)
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig().WithEvents(20_000)
	other := cfg
	other.Seed = 7
	var digests [3]map[string]string
	for i, c := range []Config{cfg, cfg, other} {
		pool, _ := testenv.Postgres(t)
		seed(t, pool, c)
		digests[i] = tableDigests(t, pool, c.ShopID)
	}
	for _, tb := range tables {
		if digests[0][tb.name] == "" || digests[0][tb.name] != digests[1][tb.name] {
			t.Errorf("%s: two seeds of the same config differ: %s vs %s", tb.name, digests[0][tb.name], digests[1][tb.name])
		}
		if digests[0][tb.name] == digests[2][tb.name] {
			t.Errorf("%s: seeds %d and %d wrote the same rows", tb.name, cfg.Seed, other.Seed)
		}
	}
}

func TestSeedShops(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	a := DefaultConfig().WithEvents(5_000)
	a.ShopID = "shop-a"
	b := a // the same seed, so the gids coincide and only the shop tells them apart
	b.ShopID = "shop-b"
	b.Events = 3_000

	seed(t, pool, a)
	if has, err := store.New(pool).HasInteractions(ctx, "shop-b"); err != nil || has {
		t.Fatalf("HasInteractions(shop-b) after seeding shop-a = %v, %v; want false", has, err)
	}
	seed(t, pool, b)
	for _, c := range []Config{a, b} {
		if has, err := store.New(pool).HasInteractions(ctx, c.ShopID); err != nil || !has {
			t.Fatalf("HasInteractions(%s) = %v, %v; want true", c.ShopID, has, err)
		}
		got := tableCounts(t, pool, c.ShopID)
		if got["product_data"] != int64(c.Products) || got["customer_data"] != int64(c.Customers) ||
			got["order_data"] != int64(c.Orders) || got["user_interactions"] != int64(c.Events) {
			t.Errorf("%s has %v, want its own config's counts", c.ShopID, got)
		}
	}
	var shared int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM product_data a JOIN product_data b
		ON a.product_id = b.product_id AND a.shop_id = 'shop-a' AND b.shop_id = 'shop-b'`).Scan(&shared); err != nil {
		t.Fatal(err)
	}
	if shared != a.Products {
		t.Errorf("%d product gids shared by the two shops, want all %d (ids differ by shop only)", shared, a.Products)
	}
}

func TestSeedLeavesNothingWhenItFails(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	cfg := DefaultConfig().WithEvents(200_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Seed(ctx, store.New(pool), cfg, func(s Stats) {
		if s.Events > 0 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Seed cancelled midway = %v, want context.Canceled", err)
	}
	for name, n := range tableCounts(t, pool, cfg.ShopID) {
		if n != 0 {
			t.Errorf("%s kept %d rows of a failed seed", name, n)
		}
	}
	if _, err := Seed(context.Background(), store.New(pool), DefaultConfig(), nil); err != nil {
		t.Errorf("Seed after a failed one: %v", err)
	}
	bad := DefaultConfig()
	bad.Products = 0
	if _, err := Seed(context.Background(), store.New(pool), bad, nil); err == nil || err.Error() != bad.Validate().Error() {
		t.Errorf("Seed of an invalid config = %v, want Validate's error", err)
	}
}

// BenchmarkSeed seeds a fresh database per iteration and reports events/s.
// DEMO_BENCH_EVENTS sets the size (default 200,000), with products,
// customers and orders scaled to match: DEMO_BENCH_EVENTS=2000000 go test
// -run '^$' -bench Seed -benchtime 1x ./internal/demo measures the
// benchmark-sized shop.
func BenchmarkSeed(b *testing.B) {
	events := 200_000
	if v := os.Getenv("DEMO_BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("DEMO_BENCH_EVENTS=%q: %v", v, err)
		}
		events = n
	}
	cfg := DefaultConfig().WithEvents(events)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		pool, _ := testenv.Postgres(b)
		b.StartTimer()
		stats := seed(b, pool, cfg)
		total += stats.Duration
	}
	b.ReportMetric(float64(events)*float64(b.N)/total.Seconds(), "events/s")
}
