package main

import (
	"context"
	"fmt"

	"github.com/featurestore/featurestore/internal/store"
)

func runMigrate(ctx context.Context, args []string) error {
	var cfg config
	fs := newFlagSet("migrate", "[flags]")
	cfg.databaseFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	pool, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	version, err := store.Migrate(ctx, pool, cfg.logger())
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Printf("database schema is at version %d\n", version)
	return nil
}
