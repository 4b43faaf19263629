package postgres

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.UploadStore = (*DB)(nil)

const uploadColumns = `id, owner_id, name, content_type, size, received, hash_state, store_state, want_sha256, created_at, expires_at, completed_at,
	request_id, coalesce(uploader_name, ''), file_expires_at, coalesce(idempotency_key, '')`

func scanUpload(r pgx.Row) (files.Upload, error) {
	var u files.Upload
	err := r.Scan(&u.ID, &u.OwnerID, &u.Name, &u.ContentType, &u.Size, &u.Received, &u.HashState, &u.StoreState,
		&u.WantSHA256, &u.CreatedAt, &u.ExpiresAt, &u.CompletedAt, &u.RequestID, &u.UploaderName, &u.FileExpiresAt, &u.IdempotencyKey)
	return u, err
}

// CreateUpload implements files.UploadStore.
func (db *DB) CreateUpload(ctx context.Context, u files.Upload) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO file_uploads (id, owner_id, name, content_type, size, received, hash_state, store_state, want_sha256,
		created_at, expires_at, completed_at, request_id, uploader_name, file_expires_at, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
		$10, $11, $12, $13, nullif($14, ''), $15, nullif($16, ''))`,
		u.ID, u.OwnerID, u.Name, u.ContentType, u.Size, u.Received, u.HashState, u.StoreState, u.WantSHA256, u.CreatedAt, u.ExpiresAt, u.CompletedAt,
		u.RequestID, u.UploaderName, u.FileExpiresAt, u.IdempotencyKey)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "file_uploads_idempotency" {
		return files.ErrKeyUsed
	}
	if err != nil {
		return fmt.Errorf("postgres: create upload: %w", mapErr(err))
	}
	return nil
}

// UploadByID implements files.UploadStore.
func (db *DB) UploadByID(ctx context.Context, ownerID string, id uuid.UUID) (files.Upload, error) {
	u, err := scanUpload(db.pool.QueryRow(ctx, `SELECT `+uploadColumns+` FROM file_uploads WHERE id = $1 AND owner_id = $2`, id, ownerID))
	if errors.Is(err, pgx.ErrNoRows) {
		return files.Upload{}, files.ErrNotFound
	}
	if err != nil {
		return files.Upload{}, fmt.Errorf("postgres: upload by id: %w", mapErr(err))
	}
	return u, nil
}

// UploadByIdempotencyKey implements files.UploadStore.
func (db *DB) UploadByIdempotencyKey(ctx context.Context, ownerID, key string) (files.Upload, error) {
	u, err := scanUpload(db.pool.QueryRow(ctx, `SELECT `+uploadColumns+` FROM file_uploads WHERE owner_id = $1 AND idempotency_key = $2`, ownerID, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return files.Upload{}, files.ErrNotFound
	}
	if err != nil {
		return files.Upload{}, fmt.Errorf("postgres: upload by idempotency key: %w", mapErr(err))
	}
	return u, nil
}

// AdvanceUpload implements files.UploadStore as a compare-and-swap on the offset.
func (db *DB) AdvanceUpload(ctx context.Context, id uuid.UUID, from, to int64, hashState, storeState []byte) error {
	var received int64
	err := db.pool.QueryRow(ctx, `WITH upd AS (
			UPDATE file_uploads SET received = $3, hash_state = $4, store_state = $5
			WHERE id = $1 AND received = $2 AND completed_at IS NULL RETURNING received)
		SELECT received FROM upd UNION ALL SELECT -1 FROM file_uploads WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`,
		id, from, to, hashState, storeState).Scan(&received)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return files.ErrNotFound
	case err != nil:
		return fmt.Errorf("postgres: advance upload: %w", mapErr(err))
	case received != to:
		return files.ErrOffsetMoved
	}
	return nil
}

// CompleteUpload implements files.UploadStore.
func (db *DB) CompleteUpload(ctx context.Context, f files.File) error {
	var notice string
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE file_uploads SET completed_at = $2, store_state = NULL
			WHERE id = $1 AND completed_at IS NULL`, f.ID, f.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return files.ErrNotFound
		}
		notice, err = db.insertFile(ctx, tx, f)
		return err
	})
	if errors.Is(err, files.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: complete upload: %w", mapErr(err))
	}
	return db.awaitFence(ctx, notice)
}

// DeleteUpload implements files.UploadStore.
func (db *DB) DeleteUpload(ctx context.Context, ownerID string, id uuid.UUID) (files.Upload, error) {
	var u files.Upload
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		u, err = scanUpload(tx.QueryRow(ctx, `DELETE FROM file_uploads WHERE id = $1 AND owner_id = $2 RETURNING `+uploadColumns, id, ownerID))
		if errors.Is(err, pgx.ErrNoRows) {
			return files.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM file_quota_reservations WHERE id = $1`, id)
		return err
	})
	if errors.Is(err, files.ErrNotFound) {
		return files.Upload{}, err
	}
	if err != nil {
		return files.Upload{}, fmt.Errorf("postgres: delete upload: %w", mapErr(err))
	}
	return u, nil
}

// ExpiredUploads implements files.UploadStore.
func (db *DB) ExpiredUploads(ctx context.Context, before time.Time, limit int) ([]files.Upload, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+uploadColumns+` FROM file_uploads WHERE expires_at < $1 ORDER BY expires_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: expired uploads: %w", mapErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.Upload, error) { return scanUpload(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: expired uploads: %w", mapErr(err))
	}
	return list, nil
}

// ForgetUpload implements files.UploadStore.
func (db *DB) ForgetUpload(ctx context.Context, id uuid.UUID) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM file_uploads WHERE id = $1`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM file_quota_reservations WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: forget upload: %w", mapErr(err))
	}
	return nil
}

// ErrLockTimeout means an upload's lock was not released before the context ended.
var ErrLockTimeout = errors.New("postgres: upload lock not released in time")

// LockUpload takes upload id's lock, shared by every file node: a session-level advisory lock
// on a connection of a pool of its own (lockPool), so a node holding many locks never starves
// its main pool, and a node that dies (or loses its connection) releases its locks at once.
//
// While another request holds the lock, LockUpload asks it to let go (a NOTIFY its holder
// listens for; the holder's onRelease runs) and tries again until ctx ends, when it returns
// ErrLockTimeout. onRelease also runs if the holder's connection fails, since the lock is then
// lost. unlock releases the lock.
func (db *DB) LockUpload(ctx context.Context, id uuid.UUID, onRelease func()) (unlock func(), err error) {
	pool, err := db.lockPool(ctx)
	if err != nil {
		return nil, err
	}
	pc, err := pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ErrLockTimeout
		}
		return nil, fmt.Errorf("postgres: lock upload: %w", mapErr(err))
	}
	conn := pc.Conn()
	channel := pgx.Identifier{"coffer_upload_" + hex.EncodeToString(id[:])}.Sanitize()
	key := int64(binary.BigEndian.Uint64(id[:8]) ^ binary.BigEndian.Uint64(id[8:]))
	fail := func(err error) (func(), error) {
		// The session may hold the LISTEN (or, after a lost answer, the lock): never reuse it.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn.Close(cctx)
		cancel()
		pc.Release()
		if ctx.Err() != nil {
			return nil, ErrLockTimeout
		}
		return nil, fmt.Errorf("postgres: lock upload: %w", mapErr(err))
	}
	// Listen first (in the same round trip): a release request sent once the lock is ours must
	// not be missed.
	var ok bool
	b := &pgx.Batch{}
	b.Queue(`LISTEN ` + channel)
	b.Queue(`SELECT pg_try_advisory_lock($1)`, key).QueryRow(func(r pgx.Row) error { return r.Scan(&ok) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fail(err)
	}
	delay := 20 * time.Millisecond
	asked := 0
	for ; !ok; asked++ {
		if asked%10 == 0 { // ask at once, then again now and then in case the holder changed
			if _, err := conn.Exec(ctx, `SELECT pg_notify($1, '')`, channel[1:len(channel)-1]); err != nil {
				return fail(err)
			}
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
			return fail(err)
		}
	}
	// Our own NOTIFY calls (sent before we held the lock) were meant for the old holder; they
	// arrived with the answers to those calls and wait in the connection's queue.
	for asked > 0 {
		drain, cancel := context.WithTimeout(ctx, time.Millisecond)
		_, err := conn.WaitForNotification(drain)
		cancel()
		if err != nil {
			break
		}
	}
	if conn.IsClosed() {
		return fail(errors.New("connection lost"))
	}
	watch, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Any notification is a request to release; an error other than our own stop means
		// the connection, and with it the lock, is gone: stop writing either way.
		_, err := conn.WaitForNotification(watch)
		if err == nil || watch.Err() == nil {
			onRelease()
		}
	}()
	return func() {
		stop()
		<-done
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var unlocked bool
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_advisory_unlock($1)`, key).QueryRow(func(r pgx.Row) error { return r.Scan(&unlocked) })
		b.Queue(`UNLISTEN ` + channel)
		if err := conn.SendBatch(uctx, b).Close(); err != nil || !unlocked {
			conn.Close(uctx) // closing the session drops the lock for certain
		}
		pc.Release()
	}, nil
}

// lockPool returns the pool of upload-lock sessions, made on first use from the main pool's
// settings. Each lock holds one session for as long as its request runs.
func (db *DB) lockPool(ctx context.Context) (*pgxpool.Pool, error) {
	db.locks.once.Do(func() {
		cfg := db.direct.Config().Copy()
		cfg.MaxConns = 256
		cfg.MinConns = 0
		cfg.MaxConnIdleTime = time.Minute
		db.locks.pool, db.locks.err = pgxpool.NewWithConfig(context.WithoutCancel(ctx), cfg)
	})
	if db.locks.err != nil {
		return nil, fmt.Errorf("postgres: lock pool: %w", db.locks.err)
	}
	return db.locks.pool, nil
}

// Close closes the sessions of upload locks and the lease listener (the main pool belongs to
// the caller).
func (db *DB) Close() {
	if db.leases != nil {
		db.leases.Close()
	}
	db.locks.once.Do(func() {}) // no pool made after this
	if db.locks.pool != nil {
		db.locks.pool.Close()
	}
}
