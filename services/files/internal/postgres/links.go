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

const linkColumns = `l.id, l.file_id, f.name, f.size, l.sha256, l.jti, coalesce(l.short_id, ''), l.expires_at,
	coalesce(l.max_downloads, l.downloads_left), l.served_bytes, coalesce(l.password_hash, ''), l.created_at`

func scanLink(r pgx.Row, extra ...any) (files.Link, error) {
	var l files.Link
	err := r.Scan(append([]any{(*[16]byte)(&l.ID), (*[16]byte)(&l.FileID), &l.FileName, &l.FileSize, &l.SHA256, &l.JTI, &l.ShortID,
		&l.ExpiresAt, &l.MaxDownloads, &l.ServedBytes, &l.PasswordHash, &l.CreatedAt}, extra...)...)
	return l, err
}

// CreateLink implements files.LinkStore: the row is inserted only if ownerID owns the file,
// and takes the file's SHA-256 (and its expiry as a cap) in the same statement; its
// link.created event commits with it. downloads_left is filled in for nodes of the previous
// release, which count it.
func (db *DB) CreateLink(ctx context.Context, ownerID string, l files.Link) (files.Link, error) {
	var hash *string
	if l.PasswordHash != "" {
		hash = &l.PasswordHash
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO file_links (id, file_id, jti, sha256, expires_at, downloads_left, max_downloads,
				password_hash, short_id, created_at)
			SELECT $1, f.id, $3, f.sha256, least($4, coalesce(f.expires_at, $4)), $5, $5, $8, $9, $6
			FROM files f WHERE f.id = $2 AND f.owner_id = $7
			RETURNING sha256, expires_at, (SELECT name FROM files WHERE id = $2), (SELECT size FROM files WHERE id = $2)`,
			l.ID, l.FileID, l.JTI, l.ExpiresAt, l.MaxDownloads, l.CreatedAt, ownerID, hash, l.ShortID).Scan(&l.SHA256, &l.ExpiresAt, &l.FileName, &l.FileSize)
		if errors.Is(err, pgx.ErrNoRows) {
			return files.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: create link: %w", mapErr(err))
		}
		// The event's time is the clock's, not the link's created_at: that one is cut to whole
		// seconds (JWT times), which put a link made in the second a webhook subscribed before
		// the subscription, and the fan-out skipped it.
		return db.emit(ctx, tx, files.LinkEvent(files.EventLinkCreated, ownerID, l, db.now()))
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

// maxDownloads is a link's max_downloads; a link made by a node of the previous release has
// only downloads_left, which stands in for it during a rolling upgrade.
const maxDownloads = `coalesce(l.max_downloads, l.downloads_left)`

func (db *DB) linkBy(ctx context.Context, cond string, key any, now time.Time) (files.Link, files.File, error) {
	var f files.File
	var reason, uploader *string
	l, err := scanLink(db.pool.QueryRow(ctx, `SELECT `+linkColumns+`, `+qualifiedFileColumns+`
		FROM file_links l JOIN files f ON f.id = l.file_id
		WHERE `+cond+` AND f.sha256 = l.sha256 AND l.expires_at > $2`, key, now),
		(*[16]byte)(&f.ID), &f.OwnerID, &f.Name, &f.Size, &f.SHA256, &f.ContentType, &f.BlobKey, &f.CreatedAt, &f.Status, &reason,
		&f.ExpiresAt, &f.RequestID, &uploader)
	if uploader != nil {
		f.UploaderName = *uploader
	}
	if reason != nil {
		f.StatusReason = *reason
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return files.Link{}, files.File{}, files.ErrNotFound
	}
	if err != nil {
		return files.Link{}, files.File{}, fmt.Errorf("postgres: find link: %w", mapErr(err))
	}
	return l, f, nil
}

// LinkByID implements files.LinkStore.
func (db *DB) LinkByID(ctx context.Context, id uuid.UUID, now time.Time) (files.Link, files.File, error) {
	return db.linkBy(ctx, `l.id = $1`, [16]byte(id), now)
}

// LinkByShortID implements files.LinkStore.
func (db *DB) LinkByShortID(ctx context.Context, shortID string, now time.Time) (files.Link, files.File, error) {
	return db.linkBy(ctx, `l.short_id = $1`, shortID, now)
}

// ReserveLinkBytes implements files.LinkStore: the budget check and the count are one
// conditional UPDATE, so parallel responses on any number of nodes cannot overshoot it. Links
// are only ever read on the primary (here and in linkBy), so a spent budget needs no fence. The
// rule is files.Link.Budget's: units of greatest(size, 1) bytes, max_downloads of them for
// fresh responses and one more for resumes.
func (db *DB) ReserveLinkBytes(ctx context.Context, linkID uuid.UUID, n int64, fresh bool, now time.Time) (files.File, error) {
	const unit = `greatest(f.size, 1)`
	q := `UPDATE file_links l SET served_bytes = l.served_bytes + $2 FROM files f
		WHERE l.id = $1 AND f.id = l.file_id AND f.sha256 = l.sha256 AND l.expires_at > $4
		AND (` + maxDownloads + ` IS NULL OR l.served_bytes + $2 <= (` + maxDownloads + `::bigint + CASE WHEN $3 THEN 0 ELSE 1 END) * ` + unit + `)
		RETURNING ` + qualifiedFileColumns
	args := []any{[16]byte(linkID), max(n, 1), fresh, now}
	if n == 0 {
		// Nothing to take: only check that a fresh response would still fit.
		q = `SELECT ` + qualifiedFileColumns + ` FROM file_links l JOIN files f ON f.id = l.file_id
			WHERE l.id = $1 AND f.sha256 = l.sha256 AND l.expires_at > $2
			AND (` + maxDownloads + ` IS NULL OR l.served_bytes < ` + maxDownloads + `::bigint * ` + unit + `)`
		args = []any{[16]byte(linkID), now}
	}
	var f files.File
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		if f, err = scanFile(tx.QueryRow(ctx, q, args...)); err != nil {
			return err
		}
		// A response from byte 0 is a download: its link.downloaded event commits with the
		// bytes it reserved (a resume or a HEAD is not another download).
		if n > 0 && fresh {
			return db.emit(ctx, tx, files.LinkEvent(files.EventLinkDownloaded, f.OwnerID, files.Link{ID: linkID, FileID: f.ID}, now))
		}
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return files.File{}, files.ErrNotFound
	}
	if err != nil {
		return files.File{}, fmt.Errorf("postgres: reserve link bytes: %w", mapErr(err))
	}
	return f, nil
}

// ListLinks implements files.LinkStore, newest first, with the files' keyset cursor.
func (db *DB) ListLinks(ctx context.Context, ownerID string, fileID *uuid.UUID, opts files.ListOptions) (files.LinkPage, error) {
	args := []any{ownerID, opts.Limit + 1}
	where := "f.owner_id = $1"
	if fileID != nil {
		args = append(args, [16]byte(*fileID))
		where += fmt.Sprintf(" AND l.file_id = $%d", len(args))
	}
	if opts.Cursor != "" {
		t, id, err := decodeCursor(opts.Cursor)
		if err != nil {
			return files.LinkPage{}, err
		}
		args = append(args, t, [16]byte(id))
		where += fmt.Sprintf(" AND (l.created_at, l.id) < ($%d, $%d)", len(args)-1, len(args))
	}
	rows, err := db.pool.Query(ctx, `SELECT `+linkColumns+` FROM file_links l JOIN files f ON f.id = l.file_id
		WHERE `+where+` ORDER BY l.created_at DESC, l.id DESC LIMIT $2`, args...)
	if err != nil {
		return files.LinkPage{}, fmt.Errorf("postgres: list links: %w", mapErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.Link, error) { return scanLink(r) })
	if err != nil {
		return files.LinkPage{}, fmt.Errorf("postgres: list links: %w", mapErr(err))
	}
	list, next := cutPage(list, opts.Limit, func(l files.Link) string { return encodeCursor(l.CreatedAt, l.ID) })
	return files.LinkPage{Links: list, NextCursor: next}, nil
}
