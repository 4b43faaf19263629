package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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

// DeleteLink implements files.LinkStore; the link.revoked event commits with the delete.
func (db *DB) DeleteLink(ctx context.Context, ownerID string, fileID, linkID uuid.UUID) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM file_links l USING files f
			WHERE l.id = $3 AND l.file_id = $1 AND f.id = l.file_id AND f.owner_id = $2`, fileID, ownerID, linkID)
		if err != nil {
			return fmt.Errorf("postgres: delete link: %w", mapErr(err))
		}
		if tag.RowsAffected() == 0 {
			return files.ErrNotFound
		}
		return db.emit(ctx, tx, files.LinkEvent(files.EventLinkRevoked, ownerID, files.Link{ID: linkID, FileID: fileID}, db.now()))
	})
}

// UseLink implements files.LinkStore. Counting is a conditional decrement, atomic under
// concurrent downloads, and records link.downloaded in the same transaction.
func (db *DB) UseLink(ctx context.Context, c files.LinkClaims, now time.Time, count bool) (files.File, error) {
	cond := `l.id = $1 AND l.jti = $2 AND l.file_id = $3 AND l.sha256 = $4 AND f.sha256 = $4
		AND l.expires_at > $5 AND (l.downloads_left IS NULL OR l.downloads_left > 0)`
	const cols = `f.id, f.owner_id, f.name, f.size, f.sha256, f.content_type, f.blob_key, f.created_at, f.status, f.status_reason`
	if !count {
		f, err := scanFile(db.pool.QueryRow(ctx, `SELECT `+cols+` FROM file_links l JOIN files f ON f.id = l.file_id WHERE `+cond,
			c.LinkID, c.JTI, c.FileID, c.SHA256, now))
		return f, useLinkErr(err)
	}
	var f files.File
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		f, err = scanFile(tx.QueryRow(ctx, `UPDATE file_links l SET downloads_left = l.downloads_left - 1 FROM files f
			WHERE f.id = l.file_id AND `+cond+` RETURNING `+cols, c.LinkID, c.JTI, c.FileID, c.SHA256, now))
		if err != nil {
			return useLinkErr(err)
		}
		return db.emit(ctx, tx, files.LinkEvent(files.EventLinkDownloaded, f.OwnerID, files.Link{ID: c.LinkID, FileID: f.ID}, now))
	})
	if err != nil {
		return files.File{}, err
	}
	return f, nil
}

func useLinkErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return files.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: use link: %w", mapErr(err))
	}
	return nil
}
