package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrKeyNotFound means that no key has the id, or no active key the
	// name, that a call asked for.
	ErrKeyNotFound = errors.New("no such api key")
	// ErrKeyNameTaken means that a key that is not revoked already has the
	// name a new key was to get.
	ErrKeyNameTaken = errors.New("an api key that is not revoked already has this name")
	// ErrKeysNotMigrated means that the database has no api_keys table yet.
	ErrKeysNotMigrated = errors.New("the database has no api_keys table: run featurestore migrate")
)

// APIKey is one row of api_keys. The secret itself is never stored: only
// SecretHash, its SHA-256.
type APIKey struct {
	// ID is the public part of the key, by which it is looked up.
	ID         string
	Name       string
	SecretHash []byte
	// Shops are the shops the key may act on; {"*"} means every shop.
	Shops []string
	// Scopes are what the key may do: read, export, compute, ingest, pixel.
	Scopes []string
	// Origins are the browser origins that may use a pixel key.
	Origins    []string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
}

const keyColumns = `id, name, secret_hash, shops, scopes, origins, created_at, last_used_at, expires_at, revoked_at`

func scanKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.Name, &k.SecretHash, &k.Shops, &k.Scopes, &k.Origins, &k.CreatedAt, &k.LastUsedAt, &k.ExpiresAt, &k.RevokedAt)
	return k, err
}

// keysError translates err, naming a database without the table.
func keysError(what string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return fmt.Errorf("%s: %w", what, ErrKeysNotMigrated)
	}
	return translate(fmt.Errorf("%s: %w", what, err))
}

// CreateKey stores key and returns it as stored (with its creation time).
// A name belongs to one key that is not revoked: CreateKey returns
// ErrKeyNameTaken when another has it, unless replace is set, in which
// case it revokes that key in the same transaction and reports true.
func (s *Store) CreateKey(ctx context.Context, key APIKey, replace bool) (APIKey, bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return APIKey{}, false, keysError("create api key", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	replaced := false
	if replace {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL`, key.Name)
		if err != nil {
			return APIKey{}, false, keysError("revoke the api key to replace", err)
		}
		replaced = tag.RowsAffected() > 0
	}
	origins := key.Origins
	if origins == nil {
		origins = []string{}
	}
	stored, err := scanKey(tx.QueryRow(ctx, `
INSERT INTO api_keys (id, name, secret_hash, shops, scopes, origins, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING `+keyColumns,
		key.ID, key.Name, key.SecretHash, key.Shops, key.Scopes, origins, key.ExpiresAt))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "api_keys_active_name_idx" {
		return APIKey{}, false, fmt.Errorf("create api key %q: %w", key.Name, ErrKeyNameTaken)
	}
	if err != nil {
		return APIKey{}, false, keysError("create api key", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return APIKey{}, false, keysError("create api key", err)
	}
	return stored, replaced, nil
}

// KeyByID returns the key whose public id is id, revoked and expired keys
// included, or ErrKeyNotFound.
func (s *Store) KeyByID(ctx context.Context, id string) (APIKey, error) {
	key, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrKeyNotFound
	}
	if err != nil {
		return APIKey{}, keysError("read api key", err)
	}
	return key, nil
}

// ListKeys returns every key, revoked ones included, by name and then
// newest first.
func (s *Store) ListKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY name, created_at DESC, id`)
	if err != nil {
		return nil, keysError("list api keys", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) { return scanKey(row) })
	if err != nil {
		return nil, keysError("list api keys", err)
	}
	return keys, nil
}

// RevokeKey revokes the key named name that is not revoked yet and returns
// it, or ErrKeyNotFound when there is none.
func (s *Store) RevokeKey(ctx context.Context, name string) (APIKey, error) {
	key, err := scanKey(s.pool.QueryRow(ctx,
		`UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING `+keyColumns, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, fmt.Errorf("revoke api key %q: %w", name, ErrKeyNotFound)
	}
	if err != nil {
		return APIKey{}, keysError("revoke api key", err)
	}
	return key, nil
}

// TouchKeys records when keys were last used, by id; a time older than
// the one stored changes nothing, so servers may report in any order.
func (s *Store) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]string, 0, len(used))
	ats := make([]time.Time, 0, len(used))
	for id, at := range used {
		ids = append(ids, id)
		ats = append(ats, at)
	}
	_, err := s.pool.Exec(ctx, `
UPDATE api_keys SET last_used_at = u.at
  FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
 WHERE api_keys.id = u.id AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < u.at)`, ids, ats)
	if err != nil {
		return keysError("record api key use", err)
	}
	return nil
}
