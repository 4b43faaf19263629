package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// sortFixture stores, for alice, a level "a/" with three subfolders and nine files whose sizes
// and dates repeat (ties broken by id), plus files elsewhere and bob's, which no page shows.
func sortFixture(t *testing.T, db *DB) []files.File {
	t.Helper()
	var sum [32]byte
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var level []files.File
	add := func(owner, name string, size int64, at time.Time) {
		id := uuid.New()
		f := files.File{ID: id, OwnerID: owner, Name: name, Size: size, SHA256: sum[:], ContentType: "text/plain", BlobKey: id.String(), CreatedAt: at}
		if err := db.CreateFile(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		if owner == "alice" && strings.HasPrefix(name, "a/") && !strings.Contains(name[2:], "/") {
			level = append(level, f)
		}
	}
	for i, n := range []string{"m.txt", "b.txt", "z.txt", "c.txt", "k.txt", "a.txt", "y.txt", "d.txt", "e.txt"} {
		add("alice", "a/"+n, int64(i%3)*100, base.Add(time.Duration(i%4)*time.Hour))
	}
	for _, n := range []string{"a/x/1", "a/x/2", "a/f/g/1", "a/q/1", "a0", "b/1", "top.txt"} {
		add("alice", n, 5, base)
	}
	add("bob", "a/bob.txt", 1, base)
	return level
}

// expectSorted is level in sort s: key, then id, both in s's direction.
func expectSorted(level []files.File, s files.Sort) []string {
	l := slices.Clone(level)
	slices.SortFunc(l, func(a, b files.File) int {
		var c int
		switch s.Key {
		case files.SortSize:
			c = cmp.Compare(a.Size, b.Size)
		case files.SortModified:
			c = a.CreatedAt.Compare(b.CreatedAt)
		default:
			c = strings.Compare(a.Name, b.Name)
		}
		if c == 0 {
			c = bytes.Compare(a.ID[:], b.ID[:])
		}
		if s.Desc {
			return -c
		}
		return c
	})
	return names(l)
}

var allSorts = []files.Sort{
	{Key: files.SortName, Desc: true},
	{Key: files.SortSize}, {Key: files.SortSize, Desc: true},
	{Key: files.SortModified}, {Key: files.SortModified, Desc: true},
}

// TestSortedLevel pages a level in every sort at several page sizes: its folders first, by
// name, then its files in the sort, ties by id, no entry twice or missing, and a cursor of
// one sort refused by another.
func TestSortedLevel(t *testing.T) {
	db, _ := newDB(t)
	level := sortFixture(t, db)
	ctx := context.Background()
	for _, s := range allSorts {
		want := append([]string{"a/f/", "a/q/", "a/x/"}, expectSorted(level, s)...)
		for _, limit := range []int{1, 2, 3, 4, 50} {
			var got []string
			opts := files.LevelOptions{Prefix: "a/", Limit: limit, Sort: s}
			for range 100 {
				p, err := db.ListLevel(ctx, "alice", opts)
				if err != nil {
					t.Fatalf("%v limit %d: %v", s, limit, err)
				}
				if n := len(p.Folders) + len(p.Files); n > limit || (n < limit && p.NextCursor != "") {
					t.Fatalf("%v limit %d: page of %d entries, next %q", s, limit, n, p.NextCursor)
				}
				got = append(append(got, p.Folders...), names(p.Files)...)
				if p.NextCursor == "" {
					break
				}
				opts.Cursor = p.NextCursor
			}
			if !slices.Equal(got, want) {
				t.Errorf("%v limit %d:\n got %q\nwant %q", s, limit, got, want)
			}
		}
	}
	// The top level, sorted: folders a/ and b/, then a0 and top.txt.
	p, err := db.ListLevel(ctx, "alice", files.LevelOptions{Limit: 10, Sort: files.Sort{Key: files.SortSize, Desc: true}})
	if err != nil || !slices.Equal(p.Folders, []string{"a/", "b/"}) || len(p.Files) != 2 {
		t.Errorf("top level: %q %q %v", p.Folders, names(p.Files), err)
	}
	first, err := db.ListLevel(ctx, "alice", files.LevelOptions{Prefix: "a/", Limit: 4, Sort: files.Sort{Key: files.SortSize}})
	if err != nil || first.NextCursor == "" {
		t.Fatal(first, err)
	}
	for _, other := range []files.Sort{{Key: files.SortSize, Desc: true}, {Key: files.SortModified}, {}} {
		_, err := db.ListLevel(ctx, "alice", files.LevelOptions{Prefix: "a/", Limit: 4, Sort: other, Cursor: first.NextCursor})
		if !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("size cursor in %v: %v, want ErrInvalidInput", other, err)
		}
	}
}

// TestSortedFlat pages the flat listing (a prefix's files at every depth) in every sort.
func TestSortedFlat(t *testing.T) {
	db, _ := newDB(t)
	level := sortFixture(t, db)
	ctx := context.Background()
	for _, s := range append(allSorts, files.Sort{Key: files.SortName}) {
		// The flat listing of "a/" holds the level's files and those below it.
		var all []files.File
		p, err := db.ListFiles(ctx, "alice", files.ListOptions{Prefix: "a/", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		all = p.Files
		want := expectSorted(all, s)
		if len(all) != len(level)+4 {
			t.Fatalf("flat a/: %d files", len(all))
		}
		var got []string
		opts := files.ListOptions{Prefix: "a/", Limit: 3, Sort: s}
		for range 100 {
			p, err := db.ListFiles(ctx, "alice", opts)
			if err != nil {
				t.Fatalf("%v: %v", s, err)
			}
			got = append(got, names(p.Files)...)
			if p.NextCursor == "" {
				break
			}
			opts.Cursor = p.NextCursor
		}
		if !slices.Equal(got, want) {
			t.Errorf("flat %v:\n got %q\nwant %q", s, got, want)
		}
	}
	p, err := db.ListFiles(ctx, "alice", files.ListOptions{Limit: 2, Sort: files.Sort{Key: files.SortSize}})
	if err != nil || p.NextCursor == "" {
		t.Fatal(err)
	}
	if _, err := db.ListFiles(ctx, "alice", files.ListOptions{Limit: 2, Cursor: p.NextCursor}); !errors.Is(err, files.ErrInvalidInput) {
		t.Errorf("size cursor in the newest-first listing: %v", err)
	}
}

// TestSortedLevelIsIndexBacked: at 50,000 files of one owner, a level's folders are probed
// in a files_owner_dir_* index and a page of its files (at the first page and past a cursor, each
// sort and order) is a seek in a files_owner_dir_* index, with no Sort node and no
// sequential scan, with custom and generic plans; so is a page of the flat listing.
func TestSortedLevelIsIndexBacked(t *testing.T) {
	_, pool := newDB(t)
	loadPaths(t, pool, 50_000, "owner")
	check := func(name, want, q string, sorts int, args ...any) {
		t.Helper()
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := explainAs(t, pool, mode, q, args...)
			if !strings.Contains(plan, `"Index Name": "`+want) || strings.Contains(plan, `"Seq Scan"`) || strings.Count(plan, `"Node Type": "Sort"`) > sorts {
				t.Errorf("%s %s: not a seek in %s without a sort:\n%s", name, mode, want, plan)
			}
			if n := pagesRead(t, plan); n > 200 {
				t.Errorf("%s %s: read %d pages", name, mode, n)
			}
		}
	}
	// (The folder walk's one Sort puts its at most limit+1 folders back in walk order; any
	// files_owner_dir_* index serves it.)
	q, args := levelFoldersQuery("owner", "d15/", "d15/\x01", 50)
	check("folders", "files_owner_dir_", q, 1, args...)
	last := files.File{ID: uuid.New(), Name: "d15/s3/photo-0025000.pdf", Size: 1 << 19, CreatedAt: time.Now().Add(-180 * 24 * time.Hour)}
	for _, s := range allSorts {
		idx := map[string]string{files.SortName: "files_owner_dir_name", files.SortSize: "files_owner_dir_size", files.SortModified: "files_owner_dir_created"}[s.Key]
		for _, c := range []sortCursor{{}, fileCursor(s, phaseFiles, last)} {
			q, args := levelFilesQuery("owner", "d15/s3/", s, c, 50)
			check(s.Key+" files", idx, q, 0, args...)
		}
		// The flat listing (no prefix) walks the owner's index of the key.
		flat := map[string]string{files.SortName: "files_owner_name", files.SortSize: "files_owner_size", files.SortModified: "files_owner_created"}[s.Key]
		for _, c := range []sortCursor{{}, fileCursor(s, phaseFlat, last)} {
			q, args := flatQuery("owner", files.ListOptions{Limit: 50, Sort: s}, c)
			check(s.Key+" flat", flat, q, 0, args...)
		}
	}
}
