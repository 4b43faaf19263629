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

var _ files.LinkStore = (*DB)(nil)

// CreateLink implements files.LinkStore: the row is inserted only if ownerID owns the file,
// and takes the file's SHA-256 in the same statement. Its link.created event commits with it.
func (db *DB) CreateLink(ctx context.Context, ownerID string, l files.Link) (files.Link, error) {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO file_links (id, file_id, jti, sha256, expires_at, downloads_left, created_at)
			SELECT $1, f.id, $3, f.sha256, $4, $5, $6 FROM files f WHERE f.id = $2 AND f.owner_id = $7
			RETURNING sha256`, l.ID, l.FileID, l.JTI, l.ExpiresAt, l.DownloadsLeft, l.CreatedAt, ownerID).Scan(&l.SHA256)
		if errors.Is(err, pgx.ErrNoRows) {
			return files.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: create link: %w", mapErr(err))
		}
		return db.emit(ctx, tx, files.LinkEvent(files.EventLinkCreated, ownerID, l, l.CreatedAt))
	})
	if err != nil {
		return files.Link{}, err
	}
	return l, nil
}

// DeleteLink implements files.LinkStore.
func (db *DB) DeleteLink(ctx context.Context, ownerID string, fileID, linkID uuid.UUID) error {
	err := db.revoke(ctx, func(tx pgx.Tx) ([]fence.Notice, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM file_links l USING files f
			WHERE l.id = $3 AND l.file_id = $1 AND f.id = l.file_id AND f.owner_id = $2`, fileID, ownerID, linkID)
		if err == nil && tag.RowsAffected() == 0 {
			err = files.ErrNotFound
		}
		if err == nil {
			err = db.emit(ctx, tx, files.LinkEvent(files.EventLinkRevoked, ownerID, files.Link{ID: linkID, FileID: fileID}, db.now()))
		}
		return []fence.Notice{{Kind: fence.LinkRevoked, FileID: fileID, OwnerID: ownerID, LinkID: linkID}}, err
	})
	if errors.Is(err, files.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: delete link: %w", mapErr(err))
	}
	return nil
}

// UseLink implements files.LinkStore. Counting is a conditional decrement, atomic under
// concurrent downloads; the one that takes the last download publishes the link's fence.
// A check without counting may read from a replica.
func (db *DB) UseLink(ctx context.Context, c files.LinkClaims, now time.Time, count bool) (files.File, error) {
	const cond = `l.id = $1 AND l.jti = $2 AND l.file_id = $3 AND l.sha256 = $4 AND f.sha256 = $4
		AND l.expires_at > $5 AND (l.downloads_left IS NULL OR l.downloads_left > 0)`
	const cols = `f.id, f.owner_id, f.name, f.size, f.sha256, f.content_type, f.blob_key, f.created_at, f.status, f.status_reason`
	args := []any{c.LinkID, c.JTI, c.FileID, c.SHA256, now}
	var f files.File
	if !count {
		err := db.read(ctx, func(q querier) error {
			var err error
			f, err = scanFile(q.QueryRow(ctx, `SELECT `+cols+` FROM file_links l JOIN files f ON f.id = l.file_id WHERE `+cond, args...))
			if errors.Is(err, pgx.ErrNoRows) {
				return files.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("postgres: use link: %w", mapErr(err))
			}
			return nil
		})
		return f, err
	}
	// The fence of a link's last download is published by the same statement, so it commits
	// with the decrement: no window, even if this node dies right after.
	id, payload, err := fence.Prepare(fence.Notice{Kind: fence.LinkUsedUp, FileID: c.FileID, LinkID: c.LinkID})
	if err != nil {
		return files.File{}, err
	}
	var published bool
	q := `WITH u AS (UPDATE file_links l SET downloads_left = l.downloads_left - 1 FROM files f
			WHERE f.id = l.file_id AND ` + cond + ` RETURNING ` + cols + `, l.downloads_left),
		n AS (SELECT pg_notify($6, $7) FROM u WHERE downloads_left = 0)
		SELECT u.*, EXISTS (SELECT 1 FROM n) FROM u`
	// link.downloaded commits with the decrement, in the same transaction.
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var reason *string
		err := tx.QueryRow(ctx, q, append(args, fence.Channel, payload)...).Scan((*[16]byte)(&f.ID), &f.OwnerID, &f.Name,
			&f.Size, &f.SHA256, &f.ContentType, &f.BlobKey, &f.CreatedAt, &f.Status, &reason, new(*int64), &published)
		if errors.Is(err, pgx.ErrNoRows) {
			return files.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: use link: %w", mapErr(err))
		}
		if reason != nil {
			f.StatusReason = *reason
		}
		return db.emit(ctx, tx, files.LinkEvent(files.EventLinkDownloaded, f.OwnerID, files.Link{ID: c.LinkID, FileID: f.ID}, now))
	})
	if err != nil {
		return files.File{}, err
	}
	if published {
		if err := db.awaitFence(ctx, id); err != nil {
			return files.File{}, err
		}
	}
	return f, nil
}
