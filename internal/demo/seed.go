package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrShopNotEmpty means the shop already has rows in an input table. Seed
// refuses it: the demo's ids would collide with a previous seed's, and demo
// rows mixed into a real shop's would falsify its features.
var ErrShopNotEmpty = errors.New("demo: the shop already has data")

// Stats counts the rows a seed has written so far.
type Stats struct {
	Products, Customers, Orders, LineItems, Events int64
	// Duration is the time since Seed started.
	Duration time.Duration
}

// progressEvery is how many events pass between two progress reports.
const progressEvery = 1 << 16

// table is one COPY of a seed: its columns in the order its source fills
// them, and the Stats counter it advances.
type table struct {
	name    string
	columns []string
	count   func(*Stats) *int64
	source  func(*plan) rowFiller
}

// rowFiller fills the next row and reports false after the last.
type rowFiller interface{ next(out []any) bool }

var tables = []table{
	{
		name:    "product_data",
		columns: []string{"id", "shop_id", "product_id", "title", "price", "vendor", "product_type", "created_at"},
		count:   func(s *Stats) *int64 { return &s.Products },
		source:  func(p *plan) rowFiller { return &productSource{p: p, s: newStream()} },
	},
	{
		name:    "customer_data",
		columns: []string{"id", "shop_id", "customer_id", "email", "first_name", "last_name", "created_at"},
		count:   func(s *Stats) *int64 { return &s.Customers },
		source:  func(p *plan) rowFiller { return &customerSource{p: p, s: newStream()} },
	},
	{
		name:    "order_data",
		columns: []string{"id", "shop_id", "order_id", "customer_id", "total_price", "created_at"},
		count:   func(s *Stats) *int64 { return &s.Orders },
		source:  func(p *plan) rowFiller { return &orderSource{c: newOrderCursor(p)} },
	},
	{
		name:    "line_item_data",
		columns: []string{"id", "shop_id", "order_id", "product_id", "quantity", "price"},
		count:   func(s *Stats) *int64 { return &s.LineItems },
		source:  func(p *plan) rowFiller { return &lineItemSource{c: newOrderCursor(p)} },
	},
	{
		name: "user_interactions",
		columns: []string{
			"id", "shop_id", "customer_id", "product_id", "event_type", "page_type",
			"device_type", "referrer_type", "view_duration", "created_at",
		},
		count:  func(s *Stats) *int64 { return &s.Events },
		source: func(p *plan) rowFiller { return newEventSource(p) },
	},
}

// copySource adapts a rowFiller to pgx.CopyFromSource, counting rows and
// reporting progress. pgx calls it from its own goroutine, one call at a
// time, and finishes with it before CopyFrom returns.
type copySource struct {
	fill   rowFiller
	row    []any
	count  *int64
	report func()
}

func (c *copySource) Next() bool {
	if !c.fill.next(c.row) {
		return false
	}
	*c.count++
	if c.report != nil && *c.count%progressEvery == 0 {
		c.report()
	}
	return true
}

// Values returns the same slice every row: pgx encodes a row before it asks
// for the next, so reusing it saves an allocation per row.
func (c *copySource) Values() ([]any, error) { return c.row, nil }

func (c *copySource) Err() error { return nil }

// Seed writes the shop that cfg describes into product_data, customer_data,
// order_data, line_item_data and user_interactions, in one transaction, so
// a seed that fails or is cancelled leaves nothing behind. It refuses a shop
// that already has rows in any of them (ErrShopNotEmpty). Rows are generated
// while they stream, in memory proportional to products + customers plus
// the busiest customer's events, whatever the total number of events.
//
// progress, when not nil, receives the counts after each table and every
// 65,536 events; it is called from a goroutine of pgx's, never concurrently
// with itself, and should return quickly. Seed ends with ANALYZE of the five
// tables, so queries on the new rows get sensible plans straight away.
func Seed(ctx context.Context, pool *pgxpool.Pool, cfg Config, progress func(Stats)) (Stats, error) {
	began := time.Now()
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	p := newPlan(cfg)
	var stats Stats
	report := func() {
		if progress != nil {
			stats.Duration = time.Since(began)
			progress(stats)
		}
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("demo: begin: %w", err)
	}
	// Rollback is a no-op after Commit; it must run even when ctx is done.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	if err := ensureEmpty(ctx, tx, cfg.ShopID); err != nil {
		return Stats{}, err
	}
	for _, t := range tables {
		src := &copySource{fill: t.source(p), row: make([]any, len(t.columns)), count: t.count(&stats)}
		if t.name == "user_interactions" {
			src.report = report
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, src); err != nil {
			// A cancel can surface as the connection's error; report the
			// cause, so callers can tell a cancelled seed from a broken one.
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = ctxErr
			}
			return Stats{}, fmt.Errorf("demo: copy %s: %w", t.name, err)
		}
		report()
	}
	for _, t := range tables {
		if _, err := tx.Exec(ctx, "ANALYZE "+t.name); err != nil {
			return Stats{}, fmt.Errorf("demo: analyze %s: %w", t.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return Stats{}, fmt.Errorf("demo: commit: %w", err)
	}
	stats.Duration = time.Since(began)
	return stats, nil
}

// ensureEmpty returns ErrShopNotEmpty when any input table has a row of the
// shop. Each probe is an index lookup.
func ensureEmpty(ctx context.Context, tx pgx.Tx, shopID string) error {
	for _, t := range tables {
		var found bool
		err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t.name+" WHERE shop_id = $1)", shopID).Scan(&found)
		if err != nil {
			return fmt.Errorf("demo: look for existing rows in %s: %w", t.name, err)
		}
		if found {
			return fmt.Errorf("%w: %s has rows for shop %q", ErrShopNotEmpty, t.name, shopID)
		}
	}
	return nil
}

// HasData reports whether the shop has any user_interactions row, which is
// what `featurestore seed-demo` checks before seeding and what a benchmark
// checks before reusing a database.
func HasData(ctx context.Context, pool *pgxpool.Pool, shopID string) (bool, error) {
	var found bool
	err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM user_interactions WHERE shop_id = $1)", shopID).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("demo: look for interactions of shop %q: %w", shopID, err)
	}
	return found, nil
}
