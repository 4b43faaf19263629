package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.IdempotencyStore = (*DB)(nil)

// recordIdempotencyKey ties f's idempotency key, if it has one, to f in the transaction that
// stores f. A key its owner already used fails the transaction with files.ErrKeyUsed.
func recordIdempotencyKey(ctx context.Context, tx pgx.Tx, f files.File) error {
	if f.IdempotencyKey == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO file_idempotency_keys (owner_id, key, file_id) VALUES ($1, $2, $3)`,
		f.OwnerID, f.IdempotencyKey, [16]byte(f.ID))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.TableName == "file_idempotency_keys" {
		return files.ErrKeyUsed
	}
	return err
}

// FileByIdempotencyKey implements files.IdempotencyStore.
func (db *DB) FileByIdempotencyKey(ctx context.Context, ownerID, key string) (files.File, error) {
	f, err := scanFile(db.pool.QueryRow(ctx, `SELECT `+qualifiedFileColumns+` FROM file_idempotency_keys k
		JOIN files f ON f.id = k.file_id AND f.owner_id = k.owner_id WHERE k.owner_id = $1 AND k.key = $2`, ownerID, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return files.File{}, files.ErrNotFound
	}
	if err != nil {
		return files.File{}, fmt.Errorf("postgres: file by idempotency key: %w", mapErr(err))
	}
	return f, nil
}
