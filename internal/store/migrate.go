package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationTable is the table in which applied migrations are recorded.
const migrationTable = "featurestore_schema_version"

// Migrate applies every pending migration and returns the schema version the
// database is at afterwards. It is idempotent, and safe to run from several
// processes at once: a Postgres session lock serialises them.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (int64, error) {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, fmt.Errorf("migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithTableName(migrationTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		// Migrations are numbered when their work starts and may land in
		// another order; each stands alone, so a database that has a later
		// one still gets an earlier one that arrived after it.
		goose.WithAllowOutofOrder(true),
	)
	if err != nil {
		return 0, fmt.Errorf("migration provider: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("apply migrations: %w", err))
	}
	for _, r := range results {
		logger.InfoContext(ctx, "applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	version, err := provider.GetDBVersion(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("schema version: %w", err))
	}
	return version, nil
}

// Migrate applies every pending migration to the Store's database (see the
// function Migrate).
func (s *Store) Migrate(ctx context.Context, logger *slog.Logger) (int64, error) {
	return Migrate(ctx, s.pool, logger)
}
