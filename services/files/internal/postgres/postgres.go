// Package postgres keeps the file service's metadata in PostgreSQL with pgx and carries the
// service's schema migrations.
package postgres

import (
	"cmp"
	"context"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgmigrate"
	"github.com/cofferhq/coffer/services/files/internal/accesscache"
	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationsTable records which migrations the file service has applied.
const MigrationsTable = "files_schema_migrations"

// DB is the file service's PostgreSQL storage.
type DB struct {
	pool  *pgxpool.Pool
	reads *reads      // nil: every read on the primary
	fence Fence       // nil: no replicas, revocations need no fence
	cache AccessCache // nil: every FileByID asks the database
	// direct holds sessions (advisory locks); it is pool unless pool goes through a
	// transaction pooler.
	direct *pgxpool.Pool
	queue  JobQueue         // events.go; nil records events without delivering them
	clock  func() time.Time // events.go; nil is time.Now
	// leases lock resumable uploads; nil: advisory locks (LockUpload).
	leases *Leases
	locks  struct { // upload locks' sessions (uploads.go)
		once sync.Once
		pool *pgxpool.Pool
		err  error
	}
	// search's plan choice (folders.go); 0: the constants searchRare and searchCap. Tests
	// force each plan: rare -1 always walks names in order, cap -1 never caps the lookup.
	search struct{ rare, cap int }
	// lookups coalesces concurrent FileByID statements (lookups.go).
	lookups *lookups
}

var _ files.MetadataStore = (*DB)(nil)

// New wraps a pool.
func New(pool *pgxpool.Pool) *DB {
	db := &DB{pool: pool, direct: pool}
	db.lookups = &lookups{run: db.lookupBatch}
	db.leases = db.Leases(DefaultLeaseTTL, nil)
	return db
}

// UploadLocker is what locks resumable uploads (files.UploadLocker).
type UploadLocker interface {
	LockUpload(ctx context.Context, id uuid.UUID, onRelease func()) (unlock func(), err error)
}

// UploadLocks returns the locks of resumable uploads every node shares: leases, or advisory
// locks with Options.AdvisoryUploadLocks.
func (db *DB) UploadLocks() UploadLocker {
	if db.leases == nil {
		return db
	}
	return db.leases
}

// NewWithOptions wraps the primary's pool and, with opts.Replicas, reads from replicas under
// opts.Fence. Run must run for replicas to be used.
func NewWithOptions(pool *pgxpool.Pool, opts Options) (*DB, error) {
	db := New(pool)
	if opts.Direct != nil {
		db.direct = opts.Direct
	}
	if opts.AdvisoryUploadLocks {
		db.leases = nil
	} else {
		db.leases = db.Leases(opts.LeaseTTL, opts.Logger)
	}
	if opts.AccessCache != nil {
		if opts.Fence == nil {
			return nil, errors.New("postgres: an access cache needs a fence")
		}
		db.cache = opts.AccessCache
	}
	if len(opts.Replicas) == 0 {
		db.fence = opts.Fence
		return db, nil
	}
	if opts.Fence == nil {
		return nil, errors.New("postgres: replicas need a fence")
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	db.fence = opts.Fence
	db.reads = &reads{fence: opts.Fence, check: opts.CheckInterval, logger: opts.Logger, users: map[string]fence.LSN{}}
	opts.Fence.Subscribe(db.reads.heard)
	for _, p := range opts.Replicas {
		db.reads.replicas = append(db.reads.replicas, &replica{pool: p})
	}
	return db, nil
}

// Run checks the replicas' health and replay positions until ctx ends; without replicas it
// returns at once.
func (db *DB) Run(ctx context.Context) {
	if db.reads != nil {
		db.reads.run(ctx)
	}
}

// Migrate applies the embedded migrations under an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	n, err := pgmigrate.Apply(ctx, pool, sub, MigrationsTable)
	return n, mapErr(err)
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return mapErr(db.pool.Ping(ctx)) }

const fileColumns = `id, owner_id, name, size, sha256, content_type, blob_key, created_at`

// readColumns are what scanFile reads: fileColumns and the scan status.
const readColumns = fileColumns + `, status, status_reason, expires_at, request_id, uploader_name`

// uuid.UUID is passed to pgx and scanned from it as a [16]byte: pgx then uses its binary
// uuid codec. As a uuid.UUID it goes through driver.Valuer and sql.Scanner instead, a text
// round trip (hex encode, parse) that, after a failed encode plan, cost about a fifth of the
// allocations of a small download (pprof alloc_objects under wrk).
// A query may select more columns after readColumns: extra receives them.
func scanFile(r pgx.Row, extra ...any) (files.File, error) {
	var f files.File
	var reason, uploader *string
	err := r.Scan(append([]any{(*[16]byte)(&f.ID), &f.OwnerID, &f.Name, &f.Size, &f.SHA256, &f.ContentType, &f.BlobKey, &f.CreatedAt, &f.Status, &reason,
		&f.ExpiresAt, &f.RequestID, &uploader}, extra...)...)
	if uploader != nil {
		f.UploaderName = *uploader
	}
	if reason != nil {
		f.StatusReason = *reason
	}
	return f, err
}

// CreateFile implements files.MetadataStore.
func (db *DB) CreateFile(ctx context.Context, f files.File) error {
	var notice string
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		notice, err = db.insertFile(ctx, tx, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create file: %w", mapErr(err))
	}
	return db.awaitFence(ctx, notice)
}

// insertFile is where every file row is written, by a direct upload (CreateFile) or at the
// end of a resumable one (CompleteUpload), in the caller's transaction: what must commit with
// any new file goes here. The row (whose trigger adds to used_bytes) and the end of the
// upload's quota reservation commit together, so no reservation ever sees the bytes twice;
// so do its file.created event and, for a file pending its scan, the scan job. With replicas,
// so does a grant notice (awaitFence its id after the commit), for read-your-writes in the
// owner's listings on every node.
func (db *DB) insertFile(ctx context.Context, tx pgx.Tx, f files.File) (notice string, err error) {
	f.Status = cmp.Or(f.Status, files.StatusAvailable)
	_, err = tx.Exec(ctx, `WITH released AS (DELETE FROM file_quota_reservations WHERE id = $1)
		INSERT INTO files (`+fileColumns+`, status, expires_at, request_id, uploader_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, nullif($12, ''))`,
		[16]byte(f.ID), f.OwnerID, f.Name, f.Size, f.SHA256, f.ContentType, f.BlobKey, f.CreatedAt, f.Status, f.ExpiresAt, f.RequestID, f.UploaderName)
	if err != nil {
		return "", err
	}
	if err := recordIdempotencyKey(ctx, tx, f); err != nil { // idempotency.go
		return "", err
	}
	if f.Status == files.StatusPendingScan && db.queue != nil {
		if err := db.queue.EnqueueScan(ctx, tx, f.ID); err != nil {
			return "", fmt.Errorf("postgres: enqueue scan: %w", err)
		}
	}
	if err := db.emit(ctx, tx, files.NewEvent(files.EventFileCreated, f, f.CreatedAt)); err != nil {
		return "", err
	}
	if f.RequestID != nil {
		if err := db.emit(ctx, tx, files.RequestEvent(f, f.CreatedAt)); err != nil {
			return "", err
		}
	}
	return db.grant(ctx, tx, fence.Notice{Kind: fence.FileCreated, FileID: f.ID, OwnerID: f.OwnerID})
}

// grant publishes a grant notice in tx when this node reads from replicas; "" without.
func (db *DB) grant(ctx context.Context, tx pgx.Tx, n fence.Notice) (string, error) {
	if db.reads == nil {
		return "", nil
	}
	n.Grant = true
	return fence.Publish(ctx, tx, n)
}

// FileByID implements files.MetadataStore.
func (db *DB) FileByID(ctx context.Context, ownerID string, id uuid.UUID) (files.File, error) {
	// The owner, and any user the owner shared the file with, may read it.
	var t accesscache.Ticket
	if db.cache != nil {
		if f, ok := db.cache.Get(id, ownerID); ok {
			return f, nil
		}
		t = db.cache.Begin()
	}
	// Coalesced with the node's concurrent lookups into one statement (lookups.go); the
	// ticket was taken first, so a fence that arrives meanwhile keeps the answer out of the
	// cache.
	f, err := db.lookups.fileByID(ctx, ownerID, id)
	if err == nil && db.cache != nil {
		db.cache.Put(t, ownerID, f)
	}
	return f, err
}

// ListFiles implements files.MetadataStore with keyset pagination on (created_at, id).
func (db *DB) ListFiles(ctx context.Context, ownerID string, opts files.ListOptions) (files.Page, error) {
	if opts.Sort.Key != "" {
		return db.listFilesSorted(ctx, ownerID, opts) // sort.go
	}
	q, args, err := listQuery(ownerID, opts)
	if err != nil {
		return files.Page{}, err
	}
	list, err := db.listRows(ctx, ownerID, q, args)
	if err != nil {
		return files.Page{}, err
	}
	return page(list, opts.Limit), nil
}

// listRows runs a listing query of ownerID's files where that user's reads go (readFor).
func (db *DB) listRows(ctx context.Context, ownerID, q string, args []any) ([]files.File, error) {
	var list []files.File
	err := db.readFor(ctx, ownerID, func(db querier) error {
		rows, err := db.Query(ctx, q, args...)
		if err == nil {
			list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.File, error) { return scanFile(r) })
		}
		if err != nil {
			return fmt.Errorf("postgres: list files: %w", mapErr(err))
		}
		return nil
	})
	return list, err
}

// listQuery is the query of one page of ListFiles: it walks the files_owner_created index
// from the cursor, newest first, and stops after limit+1 rows (see the EXPLAIN test).
func listQuery(ownerID string, opts files.ListOptions) (string, []any, error) {
	args := []any{ownerID, opts.Limit + 1}
	where := "owner_id = $1"
	if opts.Cursor != "" {
		t, id, err := decodeCursor(opts.Cursor)
		if err != nil {
			return "", nil, err
		}
		args = append(args, t, [16]byte(id))
		where += fmt.Sprintf(" AND (created_at, id) < ($%d, $%d)", len(args)-1, len(args))
	}
	if opts.Prefix != "" {
		args = append(args, likeEscape(opts.Prefix)+"%")
		where += fmt.Sprintf(" AND name LIKE $%d", len(args))
	}
	return `SELECT ` + readColumns + ` FROM files WHERE ` + where + ` ORDER BY created_at DESC, id DESC LIMIT $2`, args, nil
}

// page cuts a list fetched with limit+1 rows into a page and the cursor of the next.
func page(list []files.File, limit int) files.Page {
	list, next := cutPage(list, limit, func(f files.File) string { return encodeCursor(f.CreatedAt, f.ID) })
	return files.Page{Files: list, NextCursor: next}
}

// cutPage cuts a list fetched with limit+1 rows (one more than a page, to learn whether
// another follows) to a page, and returns the cursor of its last row when another follows.
func cutPage[T any](list []T, limit int, cursor func(T) string) ([]T, string) {
	if len(list) <= limit {
		return list, ""
	}
	list = list[:limit]
	return list, cursor(list[len(list)-1])
}

// DeleteFile implements files.MetadataStore; the file.deleted event commits with the delete.
func (db *DB) DeleteFile(ctx context.Context, ownerID string, id uuid.UUID) (files.File, error) {
	var f files.File
	err := db.revoke(ctx, func(tx pgx.Tx) ([]fence.Notice, error) {
		var err error
		f, err = scanFile(tx.QueryRow(ctx, `DELETE FROM files WHERE id = $1 AND owner_id = $2 RETURNING `+readColumns, [16]byte(id), ownerID))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, files.ErrNotFound
		}
		if err == nil {
			err = db.emit(ctx, tx, files.NewEvent(files.EventFileDeleted, f, db.now()))
		}
		return []fence.Notice{{Kind: fence.FileDeleted, FileID: id, OwnerID: ownerID}}, err
	})
	if errors.Is(err, files.ErrNotFound) {
		return files.File{}, err
	}
	if err != nil {
		return files.File{}, fmt.Errorf("postgres: delete file: %w", mapErr(err))
	}
	return f, nil
}

// A cursor is the (created_at, id) of the last row of a page: 8 bytes of Unix microseconds and
// 16 bytes of UUID, base64url. It reveals nothing the caller did not already see.
func encodeCursor(t time.Time, id uuid.UUID) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMicro()))
	copy(b[8:], id[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (time.Time, uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 24 {
		return time.Time{}, uuid.UUID{}, files.Invalid("malformed cursor")
	}
	micros := int64(binary.BigEndian.Uint64(b[:8]))
	if micros < minCursorMicros {
		// Below PostgreSQL's timestamptz range: pgx's shift to microseconds since 2000 would
		// wrap around to a far-future time and match every row of the caller.
		return time.Time{}, uuid.UUID{}, files.Invalid("malformed cursor")
	}
	id, _ := uuid.FromBytes(b[8:])
	return time.UnixMicro(micros).UTC(), id, nil
}

// minCursorMicros is the earliest timestamptz PostgreSQL holds (4714-11-24 BC, 00:00 UTC) in
// Unix microseconds. Every larger int64 is in range (PostgreSQL's end is past year 294276).
const minCursorMicros = -210866803200000000

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// mapErr marks connection-level failures as files.ErrUnavailable so the API answers 503.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 (connection), 57P (shutdown), 53 (resources) are transient.
		if strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "53") {
			return fmt.Errorf("%w: %w", files.ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if pgconn.SafeToRetry(err) || isConnErr(err) {
		return fmt.Errorf("%w: %w", files.ErrUnavailable, err)
	}
	return err
}

func isConnErr(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no such file or directory") ||
		strings.Contains(s, "unexpected EOF") || strings.Contains(s, "broken pipe") || strings.Contains(s, "connection reset")
}
