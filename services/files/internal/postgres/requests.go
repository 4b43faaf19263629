package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.RequestStore = (*DB)(nil)

const requestColumns = `id, owner_id, short_id, title, message, expires_at, max_files, max_bytes, require_name,
	files_used, bytes_used, coalesce(password_hash, ''), closed_at, created_at`

func scanRequest(r pgx.Row) (files.Request, error) {
	var q files.Request
	err := r.Scan((*[16]byte)(&q.ID), &q.OwnerID, &q.ShortID, &q.Title, &q.Message, &q.ExpiresAt, &q.MaxFiles, &q.MaxBytes,
		&q.RequireName, &q.FilesUsed, &q.BytesUsed, &q.PasswordHash, &q.ClosedAt, &q.CreatedAt)
	return q, err
}

func requestErr(what string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return files.ErrNotFound
	}
	return fmt.Errorf("postgres: %s: %w", what, mapErr(err))
}

// CreateRequest implements files.RequestStore.
func (db *DB) CreateRequest(ctx context.Context, r files.Request) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO file_requests (id, owner_id, short_id, title, message, expires_at, max_files, max_bytes,
			password_hash, require_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, $11)`,
		[16]byte(r.ID), r.OwnerID, r.ShortID, r.Title, r.Message, r.ExpiresAt, r.MaxFiles, r.MaxBytes, r.PasswordHash, r.RequireName, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create request: %w", mapErr(err))
	}
	return nil
}

// RequestByID implements files.RequestStore.
func (db *DB) RequestByID(ctx context.Context, ownerID string, id uuid.UUID) (files.Request, error) {
	r, err := scanRequest(db.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM file_requests WHERE id = $1 AND owner_id = $2`, [16]byte(id), ownerID))
	if err != nil {
		return files.Request{}, requestErr("request by id", err)
	}
	return r, nil
}

// RequestByShortID implements files.RequestStore.
func (db *DB) RequestByShortID(ctx context.Context, shortID string) (files.Request, error) {
	r, err := scanRequest(db.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM file_requests WHERE short_id = $1`, shortID))
	if err != nil {
		return files.Request{}, requestErr("request by short id", err)
	}
	return r, nil
}

// ListRequests implements files.RequestStore.
func (db *DB) ListRequests(ctx context.Context, ownerID string, opts files.ListOptions) (files.RequestPage, error) {
	args := []any{ownerID, opts.Limit + 1}
	where := "owner_id = $1"
	if opts.Cursor != "" {
		t, id, err := decodeCursor(opts.Cursor)
		if err != nil {
			return files.RequestPage{}, err
		}
		args = append(args, t, [16]byte(id))
		where += " AND (created_at, id) < ($3, $4)"
	}
	rows, err := db.pool.Query(ctx, `SELECT `+requestColumns+` FROM file_requests WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT $2`, args...)
	if err != nil {
		return files.RequestPage{}, fmt.Errorf("postgres: list requests: %w", mapErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.Request, error) { return scanRequest(r) })
	if err != nil {
		return files.RequestPage{}, fmt.Errorf("postgres: list requests: %w", mapErr(err))
	}
	list, next := cutPage(list, opts.Limit, func(r files.Request) string { return encodeCursor(r.CreatedAt, r.ID) })
	return files.RequestPage{Requests: list, NextCursor: next}, nil
}

// CloseRequest implements files.RequestStore. Uploads check the request on the primary, so
// the close takes effect at once everywhere; its fence still tells every node (and any cache).
func (db *DB) CloseRequest(ctx context.Context, ownerID string, id uuid.UUID, now time.Time) (files.Request, error) {
	var r files.Request
	err := db.revoke(ctx, func(tx pgx.Tx) ([]fence.Notice, error) {
		var err error
		r, err = scanRequest(tx.QueryRow(ctx, `UPDATE file_requests SET closed_at = coalesce(closed_at, $3)
			WHERE id = $1 AND owner_id = $2 RETURNING `+requestColumns, [16]byte(id), ownerID, now))
		return []fence.Notice{{Kind: fence.RequestClosed, RequestID: id, OwnerID: ownerID}}, err
	})
	if err != nil {
		return files.Request{}, requestErr("close request", err)
	}
	return r, nil
}

// DeleteRequest implements files.RequestStore, with a fence as CloseRequest.
func (db *DB) DeleteRequest(ctx context.Context, ownerID string, id uuid.UUID) error {
	err := db.revoke(ctx, func(tx pgx.Tx) ([]fence.Notice, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM file_requests WHERE id = $1 AND owner_id = $2`, [16]byte(id), ownerID)
		if err == nil && tag.RowsAffected() == 0 {
			err = files.ErrNotFound
		}
		return []fence.Notice{{Kind: fence.RequestClosed, RequestID: id, OwnerID: ownerID}}, err
	})
	if errors.Is(err, files.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: delete request: %w", mapErr(err))
	}
	return nil
}

// ReserveRequestUpload implements files.RequestStore with one conditional UPDATE; a refused
// reservation is then told apart (closed or full) by a second look, which changes nothing.
func (db *DB) ReserveRequestUpload(ctx context.Context, id uuid.UUID, size int64, now time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE file_requests SET files_used = files_used + 1, bytes_used = bytes_used + $2
		WHERE id = $1 AND closed_at IS NULL AND expires_at > $3
		AND (max_files IS NULL OR files_used + 1 <= max_files) AND (max_bytes IS NULL OR bytes_used + $2 <= max_bytes)`,
		[16]byte(id), size, now)
	if err != nil {
		return fmt.Errorf("postgres: reserve request upload: %w", mapErr(err))
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if err := db.CheckRequestOpen(ctx, id, now); err != nil {
		return err
	}
	return files.ErrRequestLimit
}

// CheckRequestOpen implements files.RequestStore.
func (db *DB) CheckRequestOpen(ctx context.Context, id uuid.UUID, now time.Time) error {
	var open bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM file_requests WHERE id = $1 AND closed_at IS NULL AND expires_at > $2)`,
		[16]byte(id), now).Scan(&open)
	if err != nil {
		return fmt.Errorf("postgres: check request: %w", mapErr(err))
	}
	if !open {
		return files.ErrNotFound
	}
	return nil
}

// ReleaseRequestUpload implements files.RequestStore.
func (db *DB) ReleaseRequestUpload(ctx context.Context, id uuid.UUID, size int64) error {
	_, err := db.pool.Exec(ctx, `UPDATE file_requests SET files_used = greatest(files_used - 1, 0), bytes_used = greatest(bytes_used - $2, 0)
		WHERE id = $1`, [16]byte(id), size)
	if err != nil {
		return fmt.Errorf("postgres: release request upload: %w", mapErr(err))
	}
	return nil
}

// RequestFiles implements files.RequestStore, newest first, with the files' keyset cursor.
func (db *DB) RequestFiles(ctx context.Context, ownerID string, id uuid.UUID, opts files.ListOptions) (files.Page, error) {
	args := []any{ownerID, opts.Limit + 1, [16]byte(id)}
	where := "owner_id = $1 AND request_id = $3"
	if opts.Cursor != "" {
		t, cid, err := decodeCursor(opts.Cursor)
		if err != nil {
			return files.Page{}, err
		}
		args = append(args, t, [16]byte(cid))
		where += " AND (created_at, id) < ($4, $5)"
	}
	rows, err := db.pool.Query(ctx, `SELECT `+readColumns+` FROM files WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT $2`, args...)
	if err != nil {
		return files.Page{}, fmt.Errorf("postgres: request files: %w", mapErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.File, error) { return scanFile(r) })
	if err != nil {
		return files.Page{}, fmt.Errorf("postgres: request files: %w", mapErr(err))
	}
	return page(list, opts.Limit), nil
}
