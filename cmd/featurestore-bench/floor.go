package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
)

// A floor is what Postgres alone takes to deliver the rows a measured path
// reads: the result of the very statement the store sends, copied with
// COPY in binary format to a null sink. The statement is captured from the
// driver as the store sends it rather than written here again, so that the
// floor and the path it is set beside cannot drift apart.

// errCaptured stops a read once its statements have been sent.
var errCaptured = errors.New("statement captured")

// statementCapture records the statements a pool sends, as a query tracer.
type statementCapture struct {
	mu    sync.Mutex
	stmts []capturedStatement
}

type capturedStatement struct {
	sql  string
	args []any
}

func (c *statementCapture) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stmts = append(c.stmts, capturedStatement{sql: d.SQL, args: d.Args})
	return ctx
}

func (c *statementCapture) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// floorStatement runs read against a store whose pool records what it
// sends (read should stop at its first row with errCaptured), and returns
// the first statement that match selects, its arguments written into it as
// literals, ready for COPY.
func floorStatement(ctx context.Context, url string, read func(*store.Store) error, match func(sql string) bool) (string, error) {
	capture := &statementCapture{}
	pool, err := store.Open(ctx, url, store.WithTracer(capture))
	if err != nil {
		return "", err
	}
	defer pool.Close()
	if err := read(store.New(pool)); err != nil && !errors.Is(err, errCaptured) {
		return "", fmt.Errorf("capture the statement: %w", err)
	}
	capture.mu.Lock()
	defer capture.mu.Unlock()
	for _, s := range capture.stmts {
		if match(s.sql) {
			return inline(s.sql, s.args)
		}
	}
	return "", errors.New("capture the statement: the store sent none that matches")
}

// placeholder matches a parameter's placeholder, $1 to $n.
var placeholder = regexp.MustCompile(`\$[0-9]+`)

// inline writes args into sql as literals in place of their placeholders:
// COPY takes no parameters. Query options among the arguments (pgx takes
// them there) are not parameters and are skipped.
func inline(sql string, args []any) (string, error) {
	var params []any
	for _, a := range args {
		switch a.(type) {
		case pgx.QueryResultFormats, pgx.QueryResultFormatsByOID, pgx.QueryExecMode:
			continue
		}
		params = append(params, a)
	}
	var err error
	out := placeholder.ReplaceAllStringFunc(sql, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		if n < 1 || n > len(params) {
			err = fmt.Errorf("statement has %s but %d parameters", p, len(params))
			return p
		}
		lit, litErr := literal(params[n-1])
		if litErr != nil {
			err = litErr
		}
		return lit
	})
	return out, err
}

// literal renders a parameter as SQL text. Quotes are doubled;
// standard_conforming_strings (on since Postgres 9.1) keeps backslashes
// literal.
func literal(v any) (string, error) {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	switch v := v.(type) {
	case string:
		return quote(v), nil
	case time.Time:
		return quote(v.UTC().Format(time.RFC3339Nano)) + "::timestamptz", nil
	case []string:
		items := make([]string, len(v))
		for i, s := range v {
			items[i] = quote(s)
		}
		return "ARRAY[" + strings.Join(items, ",") + "]::text[]", nil
	}
	return "", fmt.Errorf("no SQL literal for a parameter of type %T", v)
}

// copyRows copies the result of statement with COPY in binary format to w
// and returns the number of rows.
func copyRows(ctx context.Context, pool *pgxpool.Pool, statement string, w io.Writer) (int64, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, w, "COPY ("+statement+") TO STDOUT (FORMAT binary)")
	if err != nil {
		return 0, fmt.Errorf("copy rows: %w", err)
	}
	return tag.RowsAffected(), nil
}

// scanFloor is the statement of a compute run's ordered read of a shop's
// events at asOf: the scan's events query (the one that sorts; a probe
// for anonymous clients comes before it).
func scanFloor(ctx context.Context, url, shopID string, asOf time.Time) (string, error) {
	return floorStatement(ctx, url, func(st *store.Store) error {
		return st.ScanPairs(ctx, store.ScanRequest{ShopID: shopID, AsOf: asOf}, func(*store.Pair) error { return errCaptured })
	}, func(sql string) bool {
		return strings.Contains(sql, "FROM user_interactions") && strings.Contains(sql, "ORDER BY")
	})
}

// exportFloor is the statement of an export of a shop's stored rows.
func exportFloor(ctx context.Context, url, shopID string) (string, error) {
	return floorStatement(ctx, url, func(st *store.Store) error {
		return st.ExportRows(ctx, store.ExportRequest{ShopID: shopID}, func(*store.StoredRow) error { return errCaptured })
	}, func(sql string) bool { return strings.Contains(sql, "FROM interaction_features") })
}
