package main

import (
	"context"
	"fmt"
)

func runMigrate(ctx context.Context, args []string) error {
	var cfg config
	fs := newFlagSet("migrate", "[flags]")
	cfg.databaseFlags(fs)
	if err := cfg.parse(fs, args); err != nil {
		return err
	}
	st, closeDB, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	version, err := st.Migrate(ctx, cfg.logger())
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Printf("database schema is at version %d\n", version)
	return nil
}
