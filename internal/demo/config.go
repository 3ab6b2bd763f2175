package demo

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Config describes the shop to generate. Start from DefaultConfig and
// override fields: a zero field means zero, not "default".
type Config struct {
	// ShopID is the shop_id of every row; it also prefixes every id, which
	// keeps a demo shop's ids recognisable (ids need only be unique per
	// shop, since the tables are keyed by (shop_id, id)).
	ShopID string
	// Seed selects the data set: the same Config always yields the same rows.
	Seed int64
	// Products is the size of the catalogue.
	Products int
	// Customers is the number of registered customers; anonymous visitors
	// and guest checkouts come on top of it.
	Customers int
	// Orders is the number of orders, guest orders included.
	Orders int
	// Events is the number of user_interactions rows.
	Events int
	// End is the last instant of the data. It is fixed rather than "now" so
	// that a seed gives the same rows whenever it runs.
	End time.Time
	// Days is the length of the history that ends at End.
	Days int
}

// Limits keep every generated id inside varchar(255) and inside the fixed
// width of its number, and keep the O(products + customers) memory of a seed
// reasonable.
const (
	maxShopIDLen = 200
	maxProducts  = 10_000_000
	maxCustomers = 10_000_000
	maxOrders    = 100_000_000
	maxEvents    = 9_999_999_999
	maxDays      = 3660
)

// DefaultConfig returns the demo shop of `featurestore seed-demo`: a small
// shop with about a year of history ending on 2026-11-01.
func DefaultConfig() Config {
	return Config{
		ShopID:    "demo-shop",
		Seed:      1,
		Products:  350,
		Customers: 381,
		Orders:    395,
		Events:    50_000,
		End:       time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC),
		Days:      365,
	}
}

// WithEvents returns c resized to n events, with products, customers and
// orders scaled by the same factor (at least one product and one customer),
// so that a larger benchmark shop has the density of c rather than the same
// few customers with ever longer histories.
func (c Config) WithEvents(n int) Config {
	if c.Events <= 0 {
		c.Events = n
		return c
	}
	f := float64(n) / float64(c.Events)
	scale := func(v, least int) int {
		return max(least, int(math.Round(float64(v)*f)))
	}
	c.Products = scale(c.Products, 1)
	c.Customers = scale(c.Customers, 1)
	c.Orders = scale(c.Orders, 0)
	c.Events = n
	return c
}

// Validate reports every setting that Seed cannot honour, each named by its
// field, so a command can print the message as it is.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("demo: "+format, args...))
	}
	switch {
	case c.ShopID == "":
		bad("shop id must not be empty")
	case strings.TrimSpace(c.ShopID) != c.ShopID:
		bad("shop id %q must not start or end with spaces", c.ShopID)
	case len(c.ShopID) > maxShopIDLen:
		bad("shop id must be at most %d bytes, got %d", maxShopIDLen, len(c.ShopID))
	}
	if c.Products < 1 || c.Products > maxProducts {
		bad("products must be >= 1 and <= %d, got %d", maxProducts, c.Products)
	}
	if c.Customers < 1 || c.Customers > maxCustomers {
		bad("customers must be >= 1 and <= %d, got %d", maxCustomers, c.Customers)
	}
	if c.Orders < 0 || c.Orders > maxOrders {
		bad("orders must be >= 0 and <= %d, got %d", maxOrders, c.Orders)
	}
	if c.Events < 0 || int64(c.Events) > maxEvents {
		bad("events must be >= 0 and <= %d, got %d", int64(maxEvents), c.Events)
	}
	if c.Days < 1 || c.Days > maxDays {
		bad("days must be >= 1 and <= %d, got %d", maxDays, c.Days)
	}
	if c.End.IsZero() {
		bad("end must be set")
	} else if y := c.End.UTC().Year(); y < 1980 || y > 9000 {
		bad("end must be between the years 1980 and 9000, got %s", c.End.UTC().Format(time.RFC3339))
	}
	return errors.Join(errs...)
}
