package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// queryLog records the statements a pool runs, with their arguments.
type queryLog struct {
	mu      sync.Mutex
	queries []pgx.TraceQueryStartData
}

func (l *queryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, d)
	return ctx
}

func (l *queryLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the statements recorded since the last call.
func (l *queryLog) take() []pgx.TraceQueryStartData {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.queries
	l.queries = nil
	return out
}

// planNode is the part of EXPLAIN (FORMAT JSON) that the tests read.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	IndexName string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	PlanRows  float64    `json:"Plan Rows"`
	Plans     []planNode `json:"Plans"`
}

// explain returns the plan Postgres chooses for a recorded statement, with
// its recorded arguments (less pgx's execution options).
func explain(t testing.TB, pool *pgxpool.Pool, q pgx.TraceQueryStartData) planNode {
	t.Helper()
	var args []any
	for _, a := range q.Args {
		switch a.(type) {
		case pgx.QueryResultFormats, pgx.QueryResultFormatsByOID, pgx.QueryExecMode:
			continue
		}
		args = append(args, a)
	}
	var out []struct{ Plan planNode }
	if err := pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+q.SQL, args...).Scan(&out); err != nil {
		t.Fatalf("explain %s: %v", q.SQL, err)
	}
	return out[0].Plan
}

// scans lists every node of p that reads interaction_features.
func scans(p planNode) []planNode {
	var out []planNode
	if p.Relation == "interaction_features" {
		out = append(out, p)
	}
	for _, c := range p.Plans {
		out = append(out, scans(c)...)
	}
	return out
}

// unanalysedShop returns a database whose interaction_features holds an
// analysed shop "big" of bigRows rows and a shop "new" of newRows rows
// written after the last ANALYZE, as after a new shop's first run, with
// autovacuum kept from analysing it meanwhile. Rows come 100 per customer.
func unanalysedShop(t testing.TB, bigRows, newRows int) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	pool, url := testenv.Postgres(t)
	for _, step := range []func() error{
		func() error {
			_, err := pool.Exec(ctx, `ALTER TABLE interaction_features SET (autovacuum_enabled = false)`)
			return err
		},
		func() error { _, err := store.New(pool).SeedFeatureRows(ctx, "big", bigRows/100, 100); return err },
		func() error { _, err := pool.Exec(ctx, `ANALYZE interaction_features`); return err },
		func() error { _, err := store.New(pool).SeedFeatureRows(ctx, "new", newRows/100, 100); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return pool, url
}

// productsOf returns n of the products that Store.SeedFeatureRows gives
// customer c, and one it does not.
func productsOf(c, n int) []string {
	out := make([]string, 0, n+1)
	for k := 1; k <= n; k++ {
		out = append(out, fmt.Sprintf("gid://shopify/Product/%d", (c*31+k*977)%5000))
	}
	return append(out, "gid://shopify/Product/none")
}

// TestOnlineReadsPlanWithoutStatistics reads a shop that statistics do not
// know yet: each online read must look its customers up through the pair
// key, never walk the shop's rows, whatever the planner estimates.
func TestOnlineReadsPlanWithoutStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, url := unanalysedShop(t, 20_000, 6_000)
	log := &queryLog{}
	pool, err := store.Open(ctx, url, store.WithTracer(log))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	customer := func(c int) string { return fmt.Sprintf("gid://shopify/Customer/%d", c) }

	// found counts the rows a read returns.
	found := func(rows [][]store.Record, err error) (int, error) {
		n := 0
		for _, rs := range rows {
			for _, r := range rs {
				if r.Found() {
					n++
				}
			}
		}
		return n, err
	}
	for _, tc := range []struct {
		name  string
		read  func() (int, error)
		found int
	}{
		{"one customer x 100 products", func() (int, error) {
			return found(st.ReadPairs(ctx, "new", []store.Lookup{{CustomerID: customer(7), ProductIDs: productsOf(7, 100)}}))
		}, 100},
		{"three customers", func() (int, error) {
			return found(st.ReadPairs(ctx, "new", []store.Lookup{
				{CustomerID: customer(1), ProductIDs: productsOf(1, 5)},
				{CustomerID: customer(2), ProductIDs: productsOf(2, 50)},
				{CustomerID: "gid://shopify/Customer/none", ProductIDs: productsOf(3, 1)},
			}))
		}, 55},
		{"every row of two customers (cache fill)", func() (int, error) {
			rows, err := st.CustomersRows(ctx, "new", []string{customer(1), customer(2)})
			return len(rows[customer(1)]) + len(rows[customer(2)]), err
		}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log.take()
			n, err := tc.read()
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.found {
				t.Errorf("the read found %d rows, want %d", n, tc.found)
			}
			queries := log.take()
			if len(queries) != 1 {
				t.Fatalf("the read ran %d statements, want 1", len(queries))
			}
			plan := explain(t, pool, queries[0])
			nodes := scans(plan)
			if len(nodes) == 0 {
				t.Fatalf("the plan reads no interaction_features: %+v", plan)
			}
			for _, n := range nodes {
				if n.IndexName != "interaction_features_pair_key" || !strings.Contains(n.IndexCond, "customer_id") {
					t.Errorf("the read's plan scans interaction_features by %s on %q with condition %q; want the pair key with customer_id in its condition\nplan: %+v",
						n.NodeType, n.IndexName, n.IndexCond, plan)
				}
			}
		})
	}
}

// BenchmarkReadPairsUnanalysedShop measures the online read of 1 customer
// x 100 products from Postgres on a 60,000-row shop written after the last
// ANALYZE, beside an analysed 300,000-row shop, and reports its median
// (p50-ms) and 99th percentile (p99-ms).
func BenchmarkReadPairsUnanalysedShop(b *testing.B) {
	ctx := context.Background()
	pool, _ := unanalysedShop(b, 300_000, 60_000)
	st := store.New(pool)
	rng := rand.New(rand.NewPCG(1, 2))
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		c := 1 + rng.IntN(600)
		lookups := []store.Lookup{{CustomerID: fmt.Sprintf("gid://shopify/Customer/%d", c), ProductIDs: productsOf(c, 99)}}
		start := time.Now()
		rows, err := st.ReadPairs(ctx, "new", lookups)
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if !rows[0][0].Found() {
			b.Fatalf("customer %d's first product not found", c)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
