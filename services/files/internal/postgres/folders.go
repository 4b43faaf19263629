package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.FolderStore = (*DB)(nil)

// Name order is byte order (COLLATE "C"), the order of the files_owner_name index, whatever
// the database's collation. Keyset paging is on (name, id), since names need not be unique.

// levelQuery walks one folder level as a loose index scan: each step is one probe of
// files_owner_name for the first row after the previous one, and after a subfolder's first row
// the next probe starts past the whole subfolder (name prefix + seg + "0", "0" being the byte
// after "/"). A level of 1,000 entries over a million files below it costs about 1,000
// probes, never a scan of the subfolders. $5 is the position (in characters) after the prefix;
// cut is where the first "/" after the prefix is, relative to it (0: a file of this level).
const levelQuery = `WITH RECURSIVE walk(n, id, name, cut) AS (
	(SELECT 1, f.id, f.name, strpos(substr(f.name, $5), '/') FROM files f
		WHERE f.owner_id = $1 AND f.name COLLATE "C" LIKE $4
			AND (f.name COLLATE "C", f.id) > ($2::text COLLATE "C", $3::uuid)
		ORDER BY f.name COLLATE "C", f.id LIMIT 1)
	UNION ALL
	SELECT w.n + 1, s.id, s.name, strpos(substr(s.name, $5), '/') FROM walk w CROSS JOIN LATERAL (
		SELECT f.id, f.name FROM files f
		WHERE f.owner_id = $1 AND f.name COLLATE "C" LIKE $4
			AND (f.name COLLATE "C", f.id) > (
				CASE WHEN w.cut > 0 THEN left(w.name, $5 + w.cut - 2) || '0' ELSE w.name END COLLATE "C",
				CASE WHEN w.cut > 0 THEN '00000000-0000-0000-0000-000000000000'::uuid ELSE w.id END)
		ORDER BY f.name COLLATE "C", f.id LIMIT 1) s
)
SELECT w.cut, left(w.name, $5 - 1 + w.cut), ` + qualifiedFileColumns + `
FROM (SELECT * FROM walk LIMIT $6) w LEFT JOIN files f ON f.id = w.id AND w.cut = 0
ORDER BY w.n`

// qualifiedFileColumns are fileColumns of the table aliased f.
const qualifiedFileColumns = `f.id, f.owner_id, f.name, f.size, f.sha256, f.content_type, f.blob_key, f.created_at, f.status, f.status_reason, f.expires_at, f.request_id, f.uploader_name`

// ListLevel implements files.FolderStore.
func (db *DB) ListLevel(ctx context.Context, ownerID string, opts files.LevelOptions) (files.LevelPage, error) {
	name, id, err := decodeNameCursor(opts.Cursor)
	if err != nil {
		return files.LevelPage{}, err
	}
	rows, err := db.pool.Query(ctx, levelQuery, ownerID, name, [16]byte(id), likeEscape(opts.Prefix)+"%",
		utf8.RuneCountInString(opts.Prefix)+1, opts.Limit+1)
	if err != nil {
		return files.LevelPage{}, fmt.Errorf("postgres: list level: %w", mapErr(err))
	}
	defer rows.Close()
	var p files.LevelPage
	var n int
	var lastName string
	var lastID uuid.UUID
	for rows.Next() {
		var cut int
		var folder string
		var f struct {
			ID                         *[16]byte
			OwnerID, Name, CT, BlobKey *string
			Status, Reason             *string
			Size                       *int64
			SHA256                     []byte
			CreatedAt, ExpiresAt       *time.Time
			RequestID                  *uuid.UUID
			Uploader                   *string
		}
		if err := rows.Scan(&cut, &folder, &f.ID, &f.OwnerID, &f.Name, &f.Size, &f.SHA256, &f.CT, &f.BlobKey, &f.CreatedAt, &f.Status, &f.Reason,
			&f.ExpiresAt, &f.RequestID, &f.Uploader); err != nil {
			return files.LevelPage{}, fmt.Errorf("postgres: list level: %w", mapErr(err))
		}
		n++
		if n > opts.Limit {
			p.NextCursor = encodeNameCursor(lastName, lastID)
			break
		}
		if cut > 0 {
			p.Folders = append(p.Folders, folder)
			// The next page starts past the whole subfolder.
			lastName, lastID = strings.TrimSuffix(folder, "/")+"0", uuid.Nil
			continue
		}
		if f.ID == nil { // deleted between the walk and the join
			continue
		}
		file := files.File{ID: *f.ID, OwnerID: *f.OwnerID, Name: *f.Name, Size: *f.Size, SHA256: f.SHA256,
			ContentType: *f.CT, BlobKey: *f.BlobKey, CreatedAt: *f.CreatedAt, Status: *f.Status, ExpiresAt: f.ExpiresAt, RequestID: f.RequestID}
		if f.Uploader != nil {
			file.UploaderName = *f.Uploader
		}
		if f.Reason != nil {
			file.StatusReason = *f.Reason
		}
		p.Files = append(p.Files, file)
		lastName, lastID = file.Name, file.ID
	}
	if err := rows.Err(); err != nil {
		return files.LevelPage{}, fmt.Errorf("postgres: list level: %w", mapErr(err))
	}
	return p, nil
}

// searchProbe is how many names, in order from the cursor, a search reads before it turns to
// the trigram index. A common text (a fifth of the names contain "photo") fills a page within
// the first names in order; a rare one ("0012345") is found at once through
// files_name_trgm, whose matches are then few enough to sort. Neither plan alone is fast for
// both (BenchmarkSearch: 1.3 s p50 for a common text when PostgreSQL picked the trigram plan).
const searchProbe = 2_000

// searchFilter is the match of a search: the ILIKE on the whole name is what the trigram index
// answers; the one on the last segment keeps a text that only a folder contains from matching.
const searchFilter = `name ILIKE $3 AND split_part(name, '/', -1) ILIKE $3`

// The search's statements. $1 owner, $2 the folder's LIKE prefix, $3 the text's ILIKE
// pattern, $4/$5 the cursor's name and id, $6 the page size plus one, $7 the probe's length.
const (
	searchWindow = `owner_id = $1 AND name COLLATE "C" LIKE $2 AND (name COLLATE "C", id) > ($4::text COLLATE "C", $5::uuid)`
	searchOrder  = ` ORDER BY name COLLATE "C", id`
	// searchProbeSQL reads the next $7 names in order from files_owner_name alone (an
	// index-only scan: name and id are in the index), filters them, and reads the rows of the
	// page's few matches only: a probe that fetched every row it looked at cost 2,000 heap
	// reads per query.
	// The matches' ids go in an array (an InitPlan), so their rows are fetched by primary
	// key whatever PostgreSQL estimates a common text's matches to be: as IN (...),
	// BenchmarkSearch/common measured 815 ms p50 (likely a join against a table scan).
	searchProbeSQL = `SELECT ` + readColumns + ` FROM files WHERE id = ANY(ARRAY(
		SELECT id FROM (SELECT name, id FROM files WHERE ` + searchWindow + searchOrder + ` LIMIT $7) w
		WHERE ` + searchFilter + searchOrder + ` LIMIT $6))` + searchOrder
	// searchMoreSQL says whether the folder holds more names after the cursor than the probe
	// read (index-only as well). Its own parameters: $1 owner, $2 prefix, $3/$4 cursor, $5 probe.
	searchMoreSQL = `SELECT count(*) = $5 FROM (SELECT 1 FROM files WHERE owner_id = $1 AND name COLLATE "C" LIKE $2
		AND (name COLLATE "C", id) > ($3::text COLLATE "C", $4::uuid) LIMIT $5) w`
	// searchTrigramSQL finds the text's matches of the owner through files_name_trgm, then
	// keeps those in the folder after the cursor: the matches of a text the probe did not find
	// often enough are few.
	searchTrigramSQL = `WITH m AS MATERIALIZED (SELECT ` + readColumns + ` FROM files WHERE owner_id = $1 AND ` + searchFilter + `)
		SELECT ` + readColumns + ` FROM m WHERE name COLLATE "C" LIKE $2 AND (name COLLATE "C", id) > ($4::text COLLATE "C", $5::uuid)` + searchOrder + ` LIMIT $6`
	// searchScanSQL is the plain ordered scan, for a text too short to have a trigram.
	searchScanSQL = `SELECT ` + readColumns + ` FROM files WHERE ` + searchWindow + ` AND ` + searchFilter + searchOrder + ` LIMIT $6`
)

// searchArgs are the statements' parameters ($1 to $7).
func searchArgs(ownerID string, opts files.SearchOptions, name string, id uuid.UUID, probe int) []any {
	if name < opts.Prefix {
		// Every name in the folder sorts at or after its prefix: a cursor before it starts
		// the scan there. PostgreSQL takes a row comparison as the index scan's start over
		// the LIKE prefix's range, so ("", nil) walked the owner's names from the first
		// (3,828 index pages to reach d05/ at a million rows: EXPLAIN in BenchmarkSearch).
		name, id = opts.Prefix, uuid.Nil
	}
	// The id as text: an unnamed statement's parameters have no declared types to encode to.
	return []any{ownerID, likeEscape(opts.Prefix) + "%", "%" + likeEscape(opts.Query) + "%", name, id.String(), opts.Limit + 1, probe}
}

// SearchFiles implements files.FolderStore: the text is matched against the file's own name
// (the last segment), not its folders, in the folder opts.Prefix and below.
func (db *DB) SearchFiles(ctx context.Context, ownerID string, opts files.SearchOptions) (files.Page, error) {
	name, id, err := decodeNameCursor(opts.Cursor)
	if err != nil {
		return files.Page{}, err
	}
	probe := db.searchProbe
	if probe == 0 {
		probe = searchProbe
	}
	args := searchArgs(ownerID, opts, name, id, probe)
	// First the probe: the next searchProbe names in order, filtered.
	list, err := db.searchQuery(ctx, searchProbeSQL, args...)
	if err != nil {
		return files.Page{}, err
	}
	if len(list) <= opts.Limit {
		// Not a full page: either the folder has no more names than the probe read (the
		// answer is complete), or the rest is found through the trigram index. A text of
		// fewer than three characters has no trigram: the plain ordered scan it is. Every
		// statement is planned for its values (QueryExecModeExec): a cached generic plan
		// cannot turn LIKE $2 into an index range and read the owner's names from the first.
		var more bool
		if err := db.pool.QueryRow(ctx, searchMoreSQL, pgx.QueryExecModeExec, ownerID, args[1], args[3], args[4], probe).Scan(&more); err != nil {
			return files.Page{}, fmt.Errorf("postgres: search files: %w", mapErr(err))
		}
		if more {
			q := searchTrigramSQL
			if utf8.RuneCountInString(strings.TrimSpace(opts.Query)) < 3 {
				q = searchScanSQL
			}
			if list, err = db.searchQuery(ctx, q, args[:6]...); err != nil {
				return files.Page{}, err
			}
		}
	}
	var p files.Page
	if len(list) > opts.Limit {
		list = list[:opts.Limit]
		last := list[len(list)-1]
		p.NextCursor = encodeNameCursor(last.Name, last.ID)
	}
	p.Files = list
	return p, nil
}

func (db *DB) searchQuery(ctx context.Context, q string, args ...any) ([]files.File, error) {
	// Planned for these values every time (an unnamed statement): a cached generic plan
	// cannot tell a rare text from a common one and scanned the table (seconds at 1M rows).
	rows, err := db.pool.Query(ctx, q, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: search files: %w", mapErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.File, error) { return scanFile(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: search files: %w", mapErr(err))
	}
	return list, nil
}

// RenameFile implements files.FolderStore.
func (db *DB) RenameFile(ctx context.Context, ownerID string, id uuid.UUID, name string) (files.File, error) {
	// A notice, so that no node's access cache keeps serving the old name.
	var f files.File
	err := db.revoke(ctx, func(tx pgx.Tx) ([]fence.Notice, error) {
		var err error
		f, err = scanFile(tx.QueryRow(ctx, `UPDATE files SET name = $3 WHERE id = $1 AND owner_id = $2 RETURNING `+readColumns,
			[16]byte(id), ownerID, name))
		return []fence.Notice{{Kind: fence.FileChanged, FileID: id, OwnerID: ownerID}}, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return files.File{}, files.ErrNotFound
	}
	if err != nil {
		return files.File{}, fmt.Errorf("postgres: rename file: %w", mapErr(err))
	}
	return f, nil
}

// walkPage is how many rows WalkFiles reads per query: a zip of a large folder holds no
// transaction or cursor open while it streams to a slow client.
const walkPage = 256

// WalkFiles implements files.FolderStore.
func (db *DB) WalkFiles(ctx context.Context, ownerID, prefix string, fn func(files.File) error) error {
	name, id := "", uuid.Nil
	for {
		rows, err := db.pool.Query(ctx, `SELECT `+readColumns+` FROM files
			WHERE owner_id = $1 AND name COLLATE "C" LIKE $2 AND (name COLLATE "C", id) > ($3::text COLLATE "C", $4::uuid)
			ORDER BY name COLLATE "C", id LIMIT $5`, ownerID, likeEscape(prefix)+"%", name, [16]byte(id), walkPage)
		if err != nil {
			return fmt.Errorf("postgres: walk files: %w", mapErr(err))
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.File, error) { return scanFile(r) })
		if err != nil {
			return fmt.Errorf("postgres: walk files: %w", mapErr(err))
		}
		for _, f := range list {
			if err := fn(f); err != nil {
				return err
			}
		}
		if len(list) < walkPage {
			return nil
		}
		name, id = list[len(list)-1].Name, list[len(list)-1].ID
	}
}

// A name cursor is the (name, id) after which the next page starts: 16 bytes of UUID then the
// name, base64url. It reveals nothing the caller did not already see.
func encodeNameCursor(name string, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString(append(id[:], name...))
}

func decodeNameCursor(s string) (string, uuid.UUID, error) {
	if s == "" {
		return "", uuid.Nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 16 || len(b) > 16+files.MaxNameBytes+1 {
		return "", uuid.Nil, files.Invalid("malformed cursor")
	}
	name := string(b[16:])
	if !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return "", uuid.Nil, files.Invalid("malformed cursor")
	}
	id, _ := uuid.FromBytes(b[:16])
	return name, id, nil
}
