package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/featurestore/featurestore/internal/store"
)

// dbCounter makes database names unique within one test binary; the pid
// makes them unique across the binaries that go test runs in parallel.
var dbCounter atomic.Int64

// require returns the environment variable name's value, or skips (outside
// CI) or fails (in CI) the test when it is empty.
func require(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set: CI must run tests against a real service (make test sets it)", name)
	}
	t.Skipf("%s is not set: run `make test` to start the services and run this test", name)
	return ""
}

// DatabaseURL returns the URL of a new, empty database that is dropped when
// the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, nil)
}

// Postgres returns a pool on a new, migrated database that is dropped when
// the test ends, and the database's URL. The database is a copy of a
// template migrated once for every test binary (see template), which takes
// a tenth of the time of migrating each database.
func Postgres(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return openDatabase(t, newDatabase(t, migratedTemplate))
}

// GoldenPostgres returns a pool on a new, migrated database holding the
// golden inputs as LoadGolden loads them, dropped when the test ends, and
// the database's URL. Like Postgres it copies a template, one that holds
// the golden inputs already.
func GoldenPostgres(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return openDatabase(t, newDatabase(t, goldenTemplate))
}

// openDatabase opens a pool on the test database at url, closed before the
// database is dropped. store.Open gives Postgres ten seconds to answer; a
// busy machine may need more, so it tries again for two minutes.
func openDatabase(t testing.TB, url string) (*pgxpool.Pool, string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var pool *pgxpool.Pool
	for {
		var err error
		pool, err = store.Open(context.Background(), url)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("open test database: %v", err)
		}
		t.Logf("open test database: %v; trying again", err)
	}
	// Registered after the database's cleanup, so it runs first.
	t.Cleanup(pool.Close)
	return pool, url
}

// Logger returns a logger that discards everything; tests that want logs
// build their own.
func Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// admin is the pool on DATABASE_URL through which test databases are
// created and dropped, opened by the first test that needs it and kept for
// the life of the test binary.
var admin struct {
	mu   sync.Mutex
	url  string
	pool *pgxpool.Pool
}

// adminPool returns the admin pool and DATABASE_URL.
func adminPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := require(t, "DATABASE_URL")
	admin.mu.Lock()
	defer admin.mu.Unlock()
	if admin.pool != nil && admin.url == url {
		return admin.pool, url
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	cfg.MaxConns = 4
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect to DATABASE_URL: %v", err)
	}
	admin.url, admin.pool = url, pool
	return pool, url
}

// newDatabase creates a database, a copy of the template source returns
// or, when source is nil, of Postgres' default template, drops it when the
// test ends, and returns its URL.
func newDatabase(t testing.TB, source func(testing.TB) templateRef) string {
	t.Helper()
	pool, url := adminPool(t)
	name := fmt.Sprintf("fs_test_%d_%d", os.Getpid(), dbCounter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var tpl templateRef
	if source != nil {
		tpl = source(t)
	}
	_, err := pool.Exec(ctx, "CREATE DATABASE "+name+tpl.clause())
	if source != nil && isCode(err, "3D000") {
		// The template was dropped since (as stale, by a binary of other
		// migrations that ran long after this one started): build it again.
		forgetTemplates()
		tpl = source(t)
		_, err = pool.Exec(ctx, "CREATE DATABASE "+name+tpl.clause())
	}
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		// The test's context may be gone; the drop must still happen.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(context.Background()), 60*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	return store.SwapDatabase(url, cfg.Database, name)
}

// isCode reports whether err is a Postgres error with SQLSTATE code.
func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// Templates.
//
// A template is a migrated database that test databases are copied from
// (CREATE DATABASE ... TEMPLATE, a file copy). It is named after a hash of
// the migrations, fs_tpl_<hash>, so that binaries built from the same
// migrations share it, whichever package or checkout they come from, and a
// change to a migration makes a new one. Binaries run at once by go test
// build it under an advisory lock: the first builds it, the others wait and
// use it. A template is built as fs_tpl_<hash>_build and renamed when
// complete, so a template of that name is always whole. It allows no
// connections, since Postgres copies only a database nobody is connected
// to. Each binary records in the template's comment when it first used it;
// templates of other migrations unused for staleAfter are dropped, and so
// are builds left by a killed binary.

// templateFormat is part of the hash: changing how templates are built
// (anything beyond the migrations) changes it.
const templateFormat = "featurestore test template 2"

// templatePrefix starts every template's name.
const templatePrefix = "fs_tpl_"

// staleAfter is how long a template of other migrations stays unused
// before it is dropped.
const staleAfter = 24 * time.Hour

// templateRef names a template and how to copy it.
type templateRef struct {
	name string
	// strategy is the CREATE DATABASE option that copies files rather than
	// replaying every block through the WAL, on Postgres 15 and later,
	// where it exists: faster for a small template.
	strategy string
}

// clause is what CREATE DATABASE needs to copy the template, or "" for
// Postgres' default template.
func (r templateRef) clause() string {
	if r.name == "" {
		return ""
	}
	return " TEMPLATE " + r.name + r.strategy
}

// templates holds this binary's templates, each built or checked once.
var templates struct {
	mu               sync.Mutex
	migrated, golden templateRef
}

// migratedTemplate returns the migrated template for this binary's
// migrations, building it when no binary has yet.
func migratedTemplate(t testing.TB) templateRef {
	t.Helper()
	templates.mu.Lock()
	defer templates.mu.Unlock()
	return migratedTemplateLocked(t)
}

func migratedTemplateLocked(t testing.TB) templateRef {
	t.Helper()
	if templates.migrated.name == "" {
		templates.migrated = ensureTemplate(t, templateName(t, nil), templateRef{}, func(ctx context.Context, t testing.TB, pool *pgxpool.Pool) {
			if _, err := store.Migrate(ctx, pool, Logger()); err != nil {
				t.Fatalf("migrate the test template: %v", err)
			}
		})
	}
	return templates.migrated
}

// goldenTemplate returns the migrated template that also holds the golden
// inputs, building it when no binary has yet.
func goldenTemplate(t testing.TB) templateRef {
	t.Helper()
	templates.mu.Lock()
	defer templates.mu.Unlock()
	if templates.golden.name == "" {
		migrated := migratedTemplateLocked(t)
		var inputs []string
		for _, table := range goldenInputs {
			inputs = append(inputs, filepath.Join(GoldenDir(), table+".csv"))
		}
		templates.golden = ensureTemplate(t, templateName(t, inputs), migrated, func(_ context.Context, t testing.TB, pool *pgxpool.Pool) {
			LoadGolden(t, pool)
		})
	}
	return templates.golden
}

// forgetTemplates makes the next use of a template check it again.
func forgetTemplates() {
	templates.mu.Lock()
	defer templates.mu.Unlock()
	templates.migrated, templates.golden = templateRef{}, templateRef{}
}

// templateName hashes the migrations this binary's store package embeds,
// read from the source tree it was built from, and the files of data
// loaded after them.
func templateName(t testing.TB, data []string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "store", "migrations")
	paths, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("find the migrations in %s: %v", dir, err)
	}
	sort.Strings(paths)
	paths = append(paths, data...)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", templateFormat)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read template source: %v", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(p), len(b))
		h.Write(b)
	}
	return templatePrefix + hex.EncodeToString(h.Sum(nil))[:16]
}

// ensureTemplate makes sure the template name exists, building it if need
// be as a copy of from filled by fill, cleans up stale templates, and
// records this use of name.
func ensureTemplate(t testing.TB, name string, from templateRef, fill func(context.Context, testing.TB, *pgxpool.Pool)) templateRef {
	t.Helper()
	_, url := adminPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A connection of its own: the advisory lock belongs to its session.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to DATABASE_URL: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('featurestore/testenv/templates', 0))`); err != nil {
		t.Fatalf("lock the test templates: %v", err)
	}
	// Closing the connection releases the lock too, should this fail.
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended('featurestore/testenv/templates', 0))`)

	ref := templateRef{name: name}
	var version int
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		t.Fatalf("read the server version: %v", err)
	}
	if version >= 150000 {
		ref.strategy = " STRATEGY FILE_COPY"
	}

	var isTemplate bool
	err = conn.QueryRow(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, name).Scan(&isTemplate)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		buildTemplate(ctx, t, conn, url, name, from, fill)
	case err != nil:
		t.Fatalf("look for the test template: %v", err)
	case !isTemplate:
		// Not made by this code (a build is renamed only when complete):
		// never reuse it.
		dropDatabase(ctx, t, conn, name)
		buildTemplate(ctx, t, conn, url, name, from, fill)
	}
	comment := fmt.Sprintf("featurestore test template; last used %d", time.Now().Unix())
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+name+" IS '"+comment+"'"); err != nil {
		t.Fatalf("record the use of the test template: %v", err)
	}
	dropStaleTemplates(ctx, t, conn, name)
	return ref
}

// buildTemplate creates name as a copy of from filled by fill, under the
// templates' lock.
func buildTemplate(ctx context.Context, t testing.TB, conn *pgx.Conn, url, name string, from templateRef, fill func(context.Context, testing.TB, *pgxpool.Pool)) {
	t.Helper()
	build := name + "_build"
	dropDatabase(ctx, t, conn, build) // left by a binary killed mid-build
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+build+from.clause()); err != nil {
		t.Fatalf("create the test template: %v", err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	pool, err := store.Open(ctx, store.SwapDatabase(url, cfg.Database, build))
	if err != nil {
		t.Fatalf("open the test template: %v", err)
	}
	// fill fails the test on error; the pool is closed either way, so that
	// a later build can drop what this one left.
	func() {
		defer pool.Close()
		fill(ctx, t, pool)
	}()
	// A new session writes the relation cache's init file, which DDL
	// removed: the copies then have it, and their first connection does
	// not rebuild it from the catalogues.
	if warm, err := pgx.Connect(ctx, store.SwapDatabase(url, cfg.Database, build)); err == nil {
		_ = warm.Close(ctx)
	}
	// Postgres waits a few seconds for the closed connections' backends to
	// exit before it refuses these.
	for _, stmt := range []string{
		"ALTER DATABASE " + build + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
		"ALTER DATABASE " + build + " RENAME TO " + name,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("finish the test template: %s: %v", stmt, err)
		}
	}
}

// dropStaleTemplates drops the templates of other migrations that no binary
// has used for staleAfter, and builds left by killed binaries (no build
// runs while the caller holds the templates' lock).
func dropStaleTemplates(ctx context.Context, t testing.TB, conn *pgx.Conn, current string) {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2`, templatePrefix, current)
	if err != nil {
		t.Fatalf("list the test templates: %v", err)
	}
	type db struct{ Name, Comment string }
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[db])
	if err != nil {
		t.Fatalf("list the test templates: %v", err)
	}
	for _, d := range all {
		if !strings.HasSuffix(d.Name, "_build") {
			_, used, _ := strings.Cut(d.Comment, "last used ")
			if at, err := strconv.ParseInt(used, 10, 64); err == nil && time.Since(time.Unix(at, 0)) < staleAfter {
				continue
			}
		}
		dropDatabase(ctx, t, conn, d.Name)
	}
}

// dropDatabase drops a database if it exists, template or not.
func dropDatabase(ctx context.Context, t testing.TB, conn *pgx.Conn, name string) {
	t.Helper()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("look for database %s: %v", name, err)
	}
	if !exists {
		return
	}
	for _, stmt := range []string{
		"ALTER DATABASE " + name + " WITH IS_TEMPLATE false",
		"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("drop database %s: %s: %v", name, stmt, err)
		}
	}
}
