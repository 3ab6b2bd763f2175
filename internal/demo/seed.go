package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/featurestore/featurestore/internal/store"
)

// ErrShopNotEmpty means the shop already has rows in an input table. Seed
// refuses it: the demo's ids would collide with a previous seed's, and demo
// rows mixed into a real shop's would falsify its features.
var ErrShopNotEmpty = store.ErrShopNotEmpty

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
			"device_type", "referrer_type", "view_duration", "created_at", "client_id",
		},
		count:  func(s *Stats) *int64 { return &s.Events },
		source: func(p *plan) rowFiller { return newEventSource(p) },
	},
}

// Loader is what Seed needs of the database; *store.Store implements it.
type Loader interface {
	// LoadShop must write the tables' rows, each table by COPY in order,
	// in one transaction, refuse with store.ErrShopNotEmpty a shop that has
	// rows in any of them, and return the context's error (in the chain)
	// when cancelled.
	LoadShop(ctx context.Context, shopID string, tables []store.BulkTable) error
}

var _ Loader = (*store.Store)(nil)

// Seed writes the shop that cfg describes into product_data, customer_data,
// order_data, line_item_data and user_interactions, in one transaction, so
// a seed that fails or is cancelled leaves nothing behind. It refuses a shop
// that already has rows in any of them (ErrShopNotEmpty). Rows are generated
// while they stream, in memory proportional to products + customers plus
// the busiest customer's events, whatever the total number of events.
//
// progress, when not nil, receives the counts after each table and every
// 65,536 events; it is called from a goroutine of pgx's, never concurrently
// with itself, and should return quickly. The tables are analysed at the
// end, so queries on the new rows get sensible plans straight away.
func Seed(ctx context.Context, db Loader, cfg Config, progress func(Stats)) (Stats, error) {
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
	bulk := make([]store.BulkTable, len(tables))
	for i, t := range tables {
		fill, count := t.source(p), t.count(&stats)
		events := t.name == "user_interactions"
		bulk[i] = store.BulkTable{Name: t.name, Columns: t.columns, Next: func(row []any) bool {
			if !fill.next(row) {
				report()
				return false
			}
			*count++
			if events && *count%progressEvery == 0 {
				report()
			}
			return true
		}}
	}
	if err := db.LoadShop(ctx, cfg.ShopID, bulk); err != nil {
		return Stats{}, fmt.Errorf("demo: %w", err)
	}
	stats.Duration = time.Since(began)
	return stats, nil
}
