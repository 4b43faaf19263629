package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.FolderStore = (*DB)(nil)

// Name order is byte order (COLLATE "C"), the order of the files_owner_name index, whatever
// the database's collation. Keyset paging is on (name, id), since names need not be unique.

// The level walk is a loose index scan: each step is one probe of files_owner_name for the
// first row after the previous one, and after a subfolder's first row the next probe starts
// past the whole subfolder (name prefix + seg + "0", "0" being the byte after "/"). A level of
// 1,000 entries over a million files below it costs about 1,000 probes, never a scan of the
// subfolders. The folder's range is written as bounds of the index, not as LIKE 'prefix%':
// the start is the cursor, never before the prefix (levelArgs), and the end is the prefix's
// successor. PostgreSQL starts a scan at the row comparison even when a LIKE range starts
// later, and a cached generic plan cannot turn LIKE $n into a range at all: BenchmarkSearch/
// level measured 114 ms p50 at a million rows, walking d00/ to d04/ to reach d05/ and the
// rest of the owner's names past d05/'s last subfolder.
// $1 owner, $2/$3 the cursor, $4 the position (in characters) after the prefix, $5 the page
// size plus one, $6 the prefix's successor (levelIn only); cut is where the first "/" after
// the prefix is, relative to it (0: a file of this level).
const (
	levelTop = levelHead + levelProbe + levelStep + levelProbe + levelTail
	levelIn  = levelHead + levelBelow + levelProbe + levelStep + levelBelow + levelProbe + levelTail

	levelHead = `WITH RECURSIVE walk(n, id, name, cut) AS (
	(SELECT 1, f.id, f.name, strpos(substr(f.name, $4), '/') FROM files f
		WHERE f.owner_id = $1 AND (f.name COLLATE "C", f.id) > ($2::text COLLATE "C", $3::uuid)`
	levelProbe = `
		ORDER BY f.name COLLATE "C", f.id LIMIT 1`
	levelBelow = ` AND f.name COLLATE "C" < $6::text COLLATE "C"`
	levelStep  = `)
	UNION ALL
	SELECT w.n + 1, s.id, s.name, strpos(substr(s.name, $4), '/') FROM walk w CROSS JOIN LATERAL (
		SELECT f.id, f.name FROM files f
		WHERE f.owner_id = $1 AND (f.name COLLATE "C", f.id) > (
				CASE WHEN w.cut > 0 THEN left(w.name, $4 + w.cut - 2) || '0' ELSE w.name END COLLATE "C",
				CASE WHEN w.cut > 0 THEN '00000000-0000-0000-0000-000000000000'::uuid ELSE w.id END)`
	levelTail = `) s
)
SELECT w.cut, left(w.name, $4 - 1 + w.cut), ` + qualifiedFileColumns + `
FROM (SELECT * FROM walk LIMIT $5) w LEFT JOIN files f ON f.id = w.id AND w.cut = 0
ORDER BY w.n`
)

// levelQuery returns the walk of the level prefix and its parameters.
func levelQuery(ownerID, prefix, name string, id uuid.UUID, limit int) (string, []any) {
	name, id = clampCursor(prefix, name, id)
	args := []any{ownerID, name, [16]byte(id), utf8.RuneCountInString(prefix) + 1, limit + 1}
	if prefix == "" {
		return levelTop, args
	}
	return levelIn, append(args, prefixEnd(prefix))
}

// clampCursor moves a cursor before the folder's first name to the folder's start: every
// name in the folder sorts after its prefix (a prefix ends in "/" and no name equals it).
func clampCursor(prefix, name string, id uuid.UUID) (string, uuid.UUID) {
	if name < prefix {
		return prefix, uuid.Nil
	}
	return name, id
}

// prefixEnd is the least string after every name that starts with the folder prefix (which
// ends in "/"): the prefix with its "/" turned into "0", the next byte.
func prefixEnd(prefix string) string {
	return strings.TrimSuffix(prefix, "/") + "0"
}

// qualifiedFileColumns are fileColumns of the table aliased f.
const qualifiedFileColumns = `f.id, f.owner_id, f.name, f.size, f.sha256, f.content_type, f.blob_key, f.created_at, f.status, f.status_reason, f.expires_at, f.request_id, f.uploader_name`

// ListLevel implements files.FolderStore.
func (db *DB) ListLevel(ctx context.Context, ownerID string, opts files.LevelOptions) (files.LevelPage, error) {
	if opts.Sort.Key != "" && opts.Sort != (files.Sort{Key: files.SortName}) {
		return db.listLevelSorted(ctx, ownerID, opts) // sort.go
	}
	name, id, err := decodeNameCursor(opts.Cursor)
	if err != nil {
		return files.LevelPage{}, err
	}
	q, args := levelQuery(ownerID, opts.Prefix, name, id, opts.Limit)
	rows, err := db.pool.Query(ctx, q, args...)
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

// A search answers the first page of matches in name order, whatever their number. Two plans,
// chosen per query from PostgreSQL's own estimate of the text's matches (searchEstimate):
//   - a common text is found by walking the folder's names in order from the cursor
//     (files_owner_name, index-only) and filtering them, until a page is full: a text in a
//     fifth of the names fills a page within a few hundred names;
//   - a rare one is looked up through files_name_trgm; its matches are few enough to sort.
//
// Neither alone is fast for both: the trigram plan read and sorted every match of a common
// text (BenchmarkSearch/common: 909 ms p50 at a million rows, when a probe of the first 2,000
// names in order found none because the names that match come later), and the walk reads
// every name of the folder for a rare one. The lookup is capped (searchCap): when the
// estimate was wrong and the matches are many, the search walks instead.
const (
	// searchRare is the most matching names (of every owner: that is what the trigram index
	// returns) PostgreSQL may estimate for a text that is looked up rather than walked. Its
	// estimate comes from the column's histogram: a text in fewer than about 1% of the names
	// is estimated at 0.01% of the table, a more common one at about its share.
	searchRare = 5_000
	// searchCap is the most matches the lookup reads before it gives way to the walk.
	searchCap = 10_000
)

// searchFilter is the match of a search ($4, an ILIKE pattern): the ILIKE on the whole name
// is what the trigram index answers; the one on the last segment keeps a text that only a
// folder contains from matching.
const searchFilter = `name ILIKE $4 AND split_part(name, '/', -1) ILIKE $4`

// The search's statements. $1 owner, $2/$3 the cursor (at least the folder's prefix: see
// clampCursor), $4 the text's ILIKE pattern, $5 the page size plus one, then the cap (the
// lookup only), then the folder's end (searchBelow, in a folder only; see levelQuery for why
// the folder is written as bounds, not as LIKE).
const (
	searchWindow = `owner_id = $1 AND (name COLLATE "C", id) > ($2::text COLLATE "C", $3::uuid)`
	searchOrder  = ` ORDER BY name COLLATE "C", id`
	// searchWalkSQL walks names in order from the cursor in files_owner_name alone (name and
	// id are in the index), filters them, and reads the rows of the page's matches only, by
	// primary key from an array (an InitPlan), whatever PostgreSQL estimates the matches to
	// be (as IN (...), BenchmarkSearch/common measured 815 ms p50: a join against a table
	// scan). OFFSET 0 keeps the walk a subquery that the filter cannot be pushed into, so
	// the only plan for its order is the index's.
	searchWalkSQL = `SELECT ` + readColumns + ` FROM files WHERE id = ANY(ARRAY(
		SELECT id FROM (SELECT name, id FROM files WHERE ` + searchWindow + `%s` + searchOrder + ` OFFSET 0) w
		WHERE ` + searchFilter + searchOrder + ` LIMIT $5))` + searchOrder
	// searchLookupSQL reads at most $6 of the folder's matches after the cursor (through
	// files_name_trgm, for a text estimated rare) and returns the first page of them with
	// their number: $6 of them means there may be more, and the walk answers instead.
	searchLookupSQL = `WITH m AS MATERIALIZED (SELECT ` + readColumns + ` FROM files WHERE ` + searchWindow + `%s AND ` + searchFilter + ` LIMIT $6)
		SELECT ` + readColumns + `, (SELECT count(*) FROM m) FROM m` + searchOrder + ` LIMIT $5`
	// searchEstimateSQL is how many names PostgreSQL expects a pattern to match.
	searchEstimateSQL = `EXPLAIN (FORMAT JSON) SELECT 1 FROM files WHERE name ILIKE $1`
)

// searchQuery returns one of the search statements (searchWalkSQL or searchLookupSQL) for the
// folder prefix, and its parameters; most is the lookup's $6.
func searchQuery(sql, ownerID string, opts files.SearchOptions, name string, id uuid.UUID, most int) (string, []any) {
	name, id = clampCursor(opts.Prefix, name, id)
	// The id as text: an unnamed statement's parameters have no declared types to encode to.
	args := []any{ownerID, name, id.String(), "%" + likeEscape(opts.Query) + "%", opts.Limit + 1}
	n := 6
	if sql == searchLookupSQL {
		args = append(args, most)
		n = 7
	}
	below := ""
	if opts.Prefix != "" {
		below = fmt.Sprintf(` AND name COLLATE "C" < $%d::text COLLATE "C"`, n)
		args = append(args, prefixEnd(opts.Prefix))
	}
	return fmt.Sprintf(sql, below), args
}

// SearchFiles implements files.FolderStore: the text is matched against the file's own name
// (the last segment), not its folders, in the folder opts.Prefix and below.
func (db *DB) SearchFiles(ctx context.Context, ownerID string, opts files.SearchOptions) (files.Page, error) {
	name, id, err := decodeNameCursor(opts.Cursor)
	if err != nil {
		return files.Page{}, err
	}
	rare, most := db.search.rare, db.search.cap
	if rare == 0 {
		rare = searchRare
	}
	if most == 0 {
		most = searchCap
	}
	list, found := []files.File(nil), false
	if rare > 0 && hasTrigram(opts.Query) {
		n, err := db.searchEstimate(ctx, opts.Query)
		if err != nil {
			return files.Page{}, err
		}
		if n <= float64(rare) {
			if list, found, err = db.searchLookup(ctx, ownerID, opts, name, id, most); err != nil {
				return files.Page{}, err
			}
		}
	}
	if !found {
		if list, err = db.searchRows(ctx, nil, searchWalkSQL, ownerID, opts, name, id, 0); err != nil {
			return files.Page{}, err
		}
	}
	list, next := cutPage(list, opts.Limit, func(f files.File) string { return encodeNameCursor(f.Name, f.ID) })
	return files.Page{Files: list, NextCursor: next}, nil
}

// searchLookup runs searchLookupSQL; found is false when the matches reached the cap (then
// the lookup's page may lack matches it did not read).
func (db *DB) searchLookup(ctx context.Context, ownerID string, opts files.SearchOptions, name string, id uuid.UUID, most int) ([]files.File, bool, error) {
	if most < 0 {
		most = math.MaxInt32 - 1
	}
	var n int64
	list, err := db.searchRows(ctx, &n, searchLookupSQL, ownerID, opts, name, id, most+1)
	return list, err == nil && n <= int64(most), err
}

// searchRows runs a search statement; count receives the lookup's number of matches.
func (db *DB) searchRows(ctx context.Context, count *int64, sql, ownerID string, opts files.SearchOptions, name string, id uuid.UUID, most int) ([]files.File, error) {
	q, args := searchQuery(sql, ownerID, opts, name, id, most)
	var extra []any
	if count != nil {
		extra = []any{count}
	}
	// Planned for these values every time (an unnamed statement): the lookup's plan depends
	// on the text, and a cached generic plan cannot tell a rare text from a common one.
	rows, err := db.pool.Query(ctx, q, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: search files: %w", mapErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.File, error) { return scanFile(r, extra...) })
	if err != nil {
		return nil, fmt.Errorf("postgres: search files: %w", mapErr(err))
	}
	return list, nil
}

// searchEstimate returns how many names (of every owner) PostgreSQL's statistics say contain
// text: the planner's own estimate, so the plan chosen here is the one it would cost lowest.
func (db *DB) searchEstimate(ctx context.Context, text string) (float64, error) {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	err := db.pool.QueryRow(ctx, searchEstimateSQL, pgx.QueryExecModeExec, "%"+likeEscape(text)+"%").Scan(&plan)
	if err != nil {
		return 0, fmt.Errorf("postgres: search estimate: %w", mapErr(err))
	}
	if len(plan) != 1 {
		return 0, fmt.Errorf("postgres: search estimate: %d plans", len(plan))
	}
	return plan[0].Plan.Rows, nil
}

// hasTrigram reports whether text holds a trigram files_name_trgm can look up: pg_trgm splits
// a pattern into words of letters and digits and takes trigrams of those of three or more
// characters. Without one, the index would be read whole.
func hasTrigram(text string) bool {
	run := 0
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if run++; run >= 3 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
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
