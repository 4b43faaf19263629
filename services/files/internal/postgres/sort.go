package postgres

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Sorted listings (files.Sort other than the default). Every page is a keyset seek in an
// index of migration 0036 (or files_owner_name / files_owner_created for the flat listing):
// a folder level lists its subfolders first, one probe of files_owner_dir_name per subfolder
// (skipping the whole subfolder, as the name walk does), then its files, the rows whose
// folder expression (dirExpr) is the prefix, in (key, id) order from the cursor.

// dirExpr is a file's folder: its name up to and including the last "/". It is written
// exactly as in the indexes of migration 0036, or PostgreSQL does not match them.
const dirExpr = `regexp_replace(name, '[^/]*$', '') COLLATE "C"`

// Cursor phases: a level's folders, a level's files, the flat listing.
const (
	phaseFolders = 'd'
	phaseFiles   = 'f'
	phaseFlat    = 'l'
)

// sortColumn is the column of a sort key and the SQL type of its cursor value.
func sortColumn(key string) (col, typ string) {
	switch key {
	case files.SortSize:
		return "size", "bigint"
	case files.SortModified:
		return "created_at", "timestamptz"
	default:
		return `name COLLATE "C"`, `text COLLATE "C"`
	}
}

// sortCursor is where a sorted listing's next page starts. As a string it is a tag naming the
// sort, the order and the phase (e.g. "sdf": size, descending, files), a ".", and base64url
// of the id (16 bytes) and the key (the name, or 8 bytes of size or of microseconds; in the
// folder phase, the bound past the last folder, or none when the folders are done and the
// files follow from the first). A cursor of another sort or order is
// refused: its tag differs. Like the name cursor it reveals nothing the caller did not see.
type sortCursor struct {
	phase byte
	id    uuid.UUID
	text  string // a name, or the folder phase's bound
	n     int64  // a size or microseconds
}

func sortTag(s files.Sort, phase byte) string {
	dir := byte('a')
	if s.Desc {
		dir = 'd'
	}
	return string([]byte{s.Key[0], dir, phase})
}

func encodeSortCursor(s files.Sort, c sortCursor) string {
	b := append([]byte{}, c.id[:]...)
	if c.phase != phaseFolders && s.Key != files.SortName {
		b = binary.BigEndian.AppendUint64(b, uint64(c.n))
	} else {
		b = append(b, c.text...)
	}
	return sortTag(s, c.phase) + "." + base64.RawURLEncoding.EncodeToString(b)
}

// decodeSortCursor reads a cursor of sort s in one of the phases; "" is the first page (the
// zero sortCursor, phase 0).
func decodeSortCursor(s files.Sort, cursor string, phases ...byte) (sortCursor, error) {
	var c sortCursor
	if cursor == "" {
		return c, nil
	}
	tag, body, ok := strings.Cut(cursor, ".")
	if !ok || len(tag) != 3 {
		return c, files.Invalid("malformed cursor, or a cursor of another sort")
	}
	for _, p := range phases {
		if tag == sortTag(s, p) {
			c.phase = p
		}
	}
	if c.phase == 0 {
		return c, files.Invalid("the cursor is of another sort or order; start again without it")
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(b) < 16 || len(b) > 16+files.MaxNameBytes+1 {
		return c, files.Invalid("malformed cursor")
	}
	c.id, _ = uuid.FromBytes(b[:16])
	key := b[16:]
	if c.phase != phaseFolders && s.Key != files.SortName {
		if len(key) != 8 {
			return c, files.Invalid("malformed cursor")
		}
		c.n = int64(binary.BigEndian.Uint64(key))
		return c, nil
	}
	c.text = string(key)
	if !utf8.ValidString(c.text) || strings.ContainsRune(c.text, 0) {
		return c, files.Invalid("malformed cursor")
	}
	return c, nil
}

// fileCursor is the cursor after f in sort s.
func fileCursor(s files.Sort, phase byte, f files.File) sortCursor {
	c := sortCursor{phase: phase, id: f.ID, text: f.Name}
	switch s.Key {
	case files.SortSize:
		c.n = f.Size
	case files.SortModified:
		c.n = f.CreatedAt.UnixMicro()
	}
	return c
}

// keyArg is the cursor's key as the parameter of sortColumn's type.
func (c sortCursor) keyArg(key string) any {
	switch key {
	case files.SortSize:
		return c.n
	case files.SortModified:
		return time.UnixMicro(c.n).UTC()
	default:
		return c.text
	}
}

// seek is the keyset condition and order of a sorted page: rows after ($a, $b) in (key, id)
// order, the direction of s.
func seek(s files.Sort, a, b int) (cond, order string) {
	col, typ := sortColumn(s.Key)
	op, dir := ">", ""
	if s.Desc {
		op, dir = "<", " DESC"
	}
	return fmt.Sprintf(" AND (%s, id) %s ($%d::%s, $%d::uuid)", col, op, a, typ, b),
		fmt.Sprintf(" ORDER BY %s%s, id%s", col, dir, dir)
}

// levelFoldersQuery walks the subfolders of prefix from start (a folder bound: at least the
// prefix followed by "\x01", which no subfolder's folder precedes and the level's own files
// do), one probe per subfolder. $1 owner, $2 start, $3 the position (in characters) after the
// prefix, $4 the page size plus one, $5 the prefix's successor (in a folder only).
func levelFoldersQuery(ownerID, prefix, start string, limit int) (string, []any) {
	below := ""
	args := []any{ownerID, start, utf8.RuneCountInString(prefix) + 1, limit + 1}
	if prefix != "" {
		below = ` AND ` + dirExpr + ` < $5::text COLLATE "C"`
		args = append(args, prefixEnd(prefix))
	}
	probe := `SELECT ` + dirExpr + ` AS d FROM files WHERE owner_id = $1 AND ` + dirExpr + ` >= %s` + below + ` ORDER BY ` + dirExpr + ` LIMIT 1`
	q := `WITH RECURSIVE walk(n, d) AS (
	SELECT 1, s.d FROM (` + fmt.Sprintf(probe, `$2::text COLLATE "C"`) + `) s
	UNION ALL
	SELECT w.n + 1, s.d FROM walk w CROSS JOIN LATERAL (` +
		fmt.Sprintf(probe, `(left(w.d, $3 + strpos(substr(w.d, $3), '/') - 2) || '0') COLLATE "C"`) + `) s
)
SELECT left(w.d, $3 - 1 + strpos(substr(w.d, $3), '/')) FROM (SELECT * FROM walk LIMIT $4) w ORDER BY w.n`
	return q, args
}

// levelFilesQuery is a page of the files directly in prefix, in sort s from the cursor c
// (c.phase 0: from the first). $1 owner, $2 prefix, $3 the page size plus one, $4/$5 the
// cursor.
func levelFilesQuery(ownerID, prefix string, s files.Sort, c sortCursor, limit int) (string, []any) {
	args := []any{ownerID, prefix, limit + 1}
	cond, order := seek(s, 4, 5)
	if c.phase != phaseFiles {
		cond = ""
	} else {
		args = append(args, c.keyArg(s.Key), [16]byte(c.id))
	}
	return `SELECT ` + readColumns + ` FROM files WHERE owner_id = $1 AND ` + dirExpr + ` = $2::text COLLATE "C"` + cond + order + ` LIMIT $3`, args
}

// listLevelSorted is ListLevel for a sort other than name ascending: the folders first, by
// name, then the files in s.
func (db *DB) listLevelSorted(ctx context.Context, ownerID string, opts files.LevelOptions) (files.LevelPage, error) {
	s := opts.Sort
	c, err := decodeSortCursor(s, opts.Cursor, phaseFolders, phaseFiles)
	if err != nil {
		return files.LevelPage{}, err
	}
	var p files.LevelPage
	foldersDone := c.phase == phaseFolders && c.text == ""
	if c.phase != phaseFiles && !foldersDone {
		start := opts.Prefix + "\x01"
		if c.phase == phaseFolders && c.text > start {
			start = c.text
		}
		q, args := levelFoldersQuery(ownerID, opts.Prefix, start, opts.Limit)
		rows, err := db.pool.Query(ctx, q, args...)
		if err == nil {
			p.Folders, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			return files.LevelPage{}, fmt.Errorf("postgres: list level folders: %w", mapErr(err))
		}
		if len(p.Folders) > opts.Limit {
			p.Folders = p.Folders[:opts.Limit]
			last := p.Folders[len(p.Folders)-1]
			p.NextCursor = encodeSortCursor(s, sortCursor{phase: phaseFolders, text: strings.TrimSuffix(last, "/") + "0"})
			return p, nil
		}
	}
	if c.phase != phaseFiles {
		c = sortCursor{} // the files from the first
	}
	room := opts.Limit - len(p.Folders)
	q, args := levelFilesQuery(ownerID, opts.Prefix, s, c, room)
	rows, err := db.pool.Query(ctx, q, args...)
	var list []files.File
	if err == nil {
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.File, error) { return scanFile(r) })
	}
	if err != nil {
		return files.LevelPage{}, fmt.Errorf("postgres: list level files: %w", mapErr(err))
	}
	if room == 0 {
		if len(list) > 0 { // a page of folders only, and files follow
			p.NextCursor = encodeSortCursor(s, sortCursor{phase: phaseFolders}) // no bound: folders done
		}
		return p, nil
	}
	p.Files, p.NextCursor = cutPage(list, room, func(f files.File) string { return encodeSortCursor(s, fileCursor(s, phaseFiles, f)) })
	return p, nil
}

// flatQuery is a page of the flat listing in sort s: by name it walks files_owner_name, by
// date files_owner_created (backwards for ascending), by size files_owner_size. $1 owner, $2
// the page size plus one, $3/$4 the cursor, then the prefix's LIKE pattern.
func flatQuery(ownerID string, opts files.ListOptions, c sortCursor) (string, []any) {
	s := opts.Sort
	args := []any{ownerID, opts.Limit + 1}
	cond, order := seek(s, 3, 4)
	if c.phase == phaseFlat {
		args = append(args, c.keyArg(s.Key), [16]byte(c.id))
	} else {
		cond = ""
	}
	if opts.Prefix != "" {
		args = append(args, likeEscape(opts.Prefix)+"%")
		cond += fmt.Sprintf(" AND name LIKE $%d", len(args))
	}
	return `SELECT ` + readColumns + ` FROM files WHERE owner_id = $1` + cond + order + ` LIMIT $2`, args
}

// listFilesSorted is ListFiles in a sort other than the default (newest first).
func (db *DB) listFilesSorted(ctx context.Context, ownerID string, opts files.ListOptions) (files.Page, error) {
	c, err := decodeSortCursor(opts.Sort, opts.Cursor, phaseFlat)
	if err != nil {
		return files.Page{}, err
	}
	q, args := flatQuery(ownerID, opts, c)
	list, err := db.listRows(ctx, ownerID, q, args)
	if err != nil {
		return files.Page{}, err
	}
	list, next := cutPage(list, opts.Limit, func(f files.File) string { return encodeSortCursor(opts.Sort, fileCursor(opts.Sort, phaseFlat, f)) })
	return files.Page{Files: list, NextCursor: next}, nil
}
