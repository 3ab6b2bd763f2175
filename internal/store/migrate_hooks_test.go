package store

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// MigrateTo applies or rolls back the embedded migrations until the
// Store's database is at version, so that tests can build a database as an
// older release left it and check what a later migration, or its Down, does
// to it. Migrate, which only goes up, is what servers run.
func (s *Store) MigrateTo(ctx context.Context, version int64) error {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithTableName(migrationTable), goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		return err
	}
	current, err := provider.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	if version >= current {
		_, err = provider.UpTo(ctx, version)
	} else {
		_, err = provider.DownTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("migrate to version %d: %w", version, err)
	}
	return nil
}
