package postgres

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.ShareStore = (*DB)(nil)

// CreateShare implements files.ShareStore. The ownership check and the insert are one
// statement, so a file deleted meanwhile cannot gain a share; a new share records its
// share.created event in the same transaction (granting it again records nothing).
func (db *DB) CreateShare(ctx context.Context, ownerID string, s files.Share) error {
	var notice string
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var owned, added bool
		err := tx.QueryRow(ctx, `WITH f AS (SELECT id FROM files WHERE id = $1 AND owner_id = $2),
			ins AS (INSERT INTO file_shares (file_id, user_id, created_at, username, sharer_name) SELECT id, $3, $4, nullif($5, ''), nullif($6, '') FROM f
				ON CONFLICT (file_id, user_id) DO NOTHING RETURNING 1)
			SELECT EXISTS (SELECT 1 FROM f), EXISTS (SELECT 1 FROM ins)`, s.FileID, ownerID, s.UserID, s.CreatedAt, s.Username, s.SharerName).Scan(&owned, &added)
		if err != nil {
			return fmt.Errorf("postgres: create share: %w", mapErr(err))
		}
		if !owned {
			return files.ErrNotFound
		}
		if !added {
			return nil
		}
		if err := db.emit(ctx, tx, files.ShareEvent(files.EventShareCreated, ownerID, s.FileID, s.UserID, s.CreatedAt)); err != nil {
			return err
		}
		// In the grantee's shared listing on every node at once.
		notice, err = db.grant(ctx, tx, fence.Notice{Kind: fence.ShareCreated, FileID: s.FileID, OwnerID: ownerID, UserID: s.UserID})
		return err
	})
	if err != nil {
		return err
	}
	return db.awaitFence(ctx, notice)
}

// DeleteShare implements files.ShareStore.
func (db *DB) DeleteShare(ctx context.Context, ownerID string, fileID uuid.UUID, userID string) error {
	err := db.revoke(ctx, func(tx pgx.Tx) ([]fence.Notice, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM file_shares s USING files f
			WHERE s.file_id = $1 AND s.user_id = $3 AND f.id = s.file_id AND f.owner_id = $2`, fileID, ownerID, userID)
		if err == nil && tag.RowsAffected() == 0 {
			err = files.ErrNotFound
		}
		if err == nil {
			err = db.emit(ctx, tx, files.ShareEvent(files.EventShareRevoked, ownerID, fileID, userID, db.now()))
		}
		return []fence.Notice{{Kind: fence.ShareRevoked, FileID: fileID, OwnerID: ownerID, UserID: userID}}, err
	})
	if errors.Is(err, files.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: delete share: %w", mapErr(err))
	}
	return nil
}

// ListShared implements files.ShareStore with the same keyset as ListFiles.
func (db *DB) ListShared(ctx context.Context, userID string, opts files.ListOptions) (files.Page, error) {
	args := []any{userID, opts.Limit + 1}
	where := "s.user_id = $1"
	if opts.Cursor != "" {
		t, id, err := decodeCursor(opts.Cursor)
		if err != nil {
			return files.Page{}, err
		}
		args = append(args, t, id)
		where += fmt.Sprintf(" AND (f.created_at, f.id) < ($%d, $%d)", len(args)-1, len(args))
	}
	if opts.Prefix != "" {
		args = append(args, likeEscape(opts.Prefix)+"%")
		where += fmt.Sprintf(" AND f.name LIKE $%d", len(args))
	}
	var list []files.File
	err := db.readFor(ctx, userID, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+qualifiedFileColumns+`, coalesce(s.sharer_name, '')
			FROM file_shares s JOIN files f ON f.id = s.file_id WHERE `+where+
			` ORDER BY f.created_at DESC, f.id DESC LIMIT $2`, args...)
		if err == nil {
			list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.File, error) {
				var name string
				f, err := scanFile(withColumn{r, &name})
				f.SharerName = name
				return f, err
			})
		}
		if err != nil {
			return fmt.Errorf("postgres: list shared: %w", mapErr(err))
		}
		return nil
	})
	if err != nil {
		return files.Page{}, err
	}
	return page(list, opts.Limit), nil
}

// ListShares implements files.ShareStore: the shares of one of ownerID's files, newest first.
func (db *DB) ListShares(ctx context.Context, ownerID string, fileID uuid.UUID, opts files.ListOptions) (files.SharePage, error) {
	args := []any{[16]byte(fileID), ownerID, opts.Limit + 1}
	where := "s.file_id = $1 AND f.owner_id = $2"
	if opts.Cursor != "" {
		t, id, err := decodeShareCursor(opts.Cursor)
		if err != nil {
			return files.SharePage{}, err
		}
		args = append(args, t, id)
		where += fmt.Sprintf(" AND (s.created_at, s.user_id) < ($%d, $%d)", len(args)-1, len(args))
	}
	rows, err := db.pool.Query(ctx, `SELECT s.file_id, s.user_id, coalesce(s.username, ''), s.created_at FROM file_shares s JOIN files f ON f.id = s.file_id
		WHERE `+where+` ORDER BY s.created_at DESC, s.user_id DESC LIMIT $3`, args...)
	if err != nil {
		return files.SharePage{}, fmt.Errorf("postgres: list shares: %w", mapErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.Share, error) {
		var sh files.Share
		err := r.Scan((*[16]byte)(&sh.FileID), &sh.UserID, &sh.Username, &sh.CreatedAt)
		return sh, err
	})
	if err != nil {
		return files.SharePage{}, fmt.Errorf("postgres: list shares: %w", mapErr(err))
	}
	list, next := cutPage(list, opts.Limit, func(sh files.Share) string { return encodeShareCursor(sh.CreatedAt, sh.UserID) })
	return files.SharePage{Shares: list, NextCursor: next}, nil
}

// FileMarks implements files.ShareStore in one statement for a page of files.
func (db *DB) FileMarks(ctx context.Context, ownerID string, ids []uuid.UUID, now time.Time) (map[uuid.UUID]files.Marks, error) {
	keys := make([][16]byte, len(ids))
	for i, id := range ids {
		keys[i] = id
	}
	out := make(map[uuid.UUID]files.Marks, len(ids))
	err := db.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT f.id,
				EXISTS (SELECT 1 FROM file_shares s WHERE s.file_id = f.id),
				EXISTS (SELECT 1 FROM file_links l WHERE l.file_id = f.id AND l.expires_at > $3)
			FROM files f WHERE f.id = ANY($1::uuid[]) AND f.owner_id = $2`, keys, ownerID, now)
		if err != nil {
			return fmt.Errorf("postgres: file marks: %w", mapErr(err))
		}
		defer rows.Close()
		for rows.Next() {
			var id [16]byte
			var m files.Marks
			if err := rows.Scan(&id, &m.Shared, &m.Linked); err != nil {
				return fmt.Errorf("postgres: file marks: %w", mapErr(err))
			}
			out[uuid.UUID(id)] = m
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: file marks: %w", mapErr(err))
		}
		return nil
	})
	return out, err
}

// A share cursor is the (created_at, user_id) of a page's last share: 8 bytes of Unix
// microseconds and the user id, base64url.
func encodeShareCursor(t time.Time, userID string) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(t.UnixMicro()))
	return base64.RawURLEncoding.EncodeToString(append(b, userID...))
}

func decodeShareCursor(s string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 9 || len(b) > 8+files.MaxUserIDBytes {
		return time.Time{}, "", files.Invalid("malformed cursor")
	}
	micros := int64(binary.BigEndian.Uint64(b[:8]))
	if micros < minCursorMicros {
		return time.Time{}, "", files.Invalid("malformed cursor")
	}
	return time.UnixMicro(micros).UTC(), string(b[8:]), nil
}

// withColumn scans one more column, after scanFile's: a listing that adds a column reuses
// scanFile instead of copying it.
type withColumn struct {
	pgx.Row
	extra any
}

func (w withColumn) Scan(dest ...any) error { return w.Row.Scan(append(dest, w.extra)...) }
