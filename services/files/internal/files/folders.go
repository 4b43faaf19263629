package files

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Folders are not stored: a file's name may be a path ("reports/2026/q3.pdf"), and a folder is
// the common prefix of the names below it, as in S3. Listing with a delimiter shows one level;
// renaming a file moves it.

// Delimiter separates the folders of a name.
const Delimiter = "/"

// validatePath checks the folder structure of a name that ValidateName found printable: no
// empty segment (so no leading, trailing or doubled slash), no "." or ".." segment. Such a name
// can never point outside its folder in a zip, a download or a `coffer get -r`.
func validatePath(name string) error {
	for seg := range strings.SplitSeq(name, Delimiter) {
		switch seg {
		case "":
			return Invalid("file name has an empty folder (a leading, trailing or doubled /)")
		case ".", "..":
			return Invalid("file name has a %q folder", seg)
		}
	}
	return nil
}

// ValidateFolder checks a folder prefix as listings and zips take it: empty (the top) or a
// valid name followed by the delimiter.
func ValidateFolder(prefix string) error {
	if prefix == "" {
		return nil
	}
	if !strings.HasSuffix(prefix, Delimiter) {
		return Invalid("a folder ends with %q", Delimiter)
	}
	return ValidateName(strings.TrimSuffix(prefix, Delimiter))
}

// validText checks text a client sends for matching (a prefix, a search), which PostgreSQL
// must be able to hold: valid UTF-8 without NUL.
func validText(what, s string) error {
	if len(s) > MaxNameBytes {
		return Invalid("%s longer than %d bytes", what, MaxNameBytes)
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return Invalid("%s is not valid UTF-8 text", what)
	}
	return nil
}

// LevelOptions selects a page of one folder level, in name order.
type LevelOptions struct {
	Prefix string // the folder ("" or ending in "/")
	Limit  int
	Cursor string // opaque, from a previous LevelPage
	// Sort: the zero Sort (and name ascending) is one name sequence of folders and files;
	// any other lists the level's folders first (by name), then its files in that order.
	Sort Sort
}

// LevelPage is one page of a folder level: the folders and files directly in it, in name
// order as one sequence (a folder sorts where its first file would).
type LevelPage struct {
	Folders    []string // full prefixes, each ending in "/"
	Files      []File
	NextCursor string // empty on the last page
}

// SearchOptions selects files whose name contains Query (case-insensitively), in Prefix and
// every folder below it, in name order.
type SearchOptions struct {
	Prefix string
	Query  string
	Limit  int
	Cursor string
}

// FolderStore is what folders need of the metadata store.
type FolderStore interface {
	// ListLevel returns one page of the level opts.Prefix of ownerID's files, in byte order of
	// names, folders beside files; ErrInvalidInput for a bad cursor.
	ListLevel(ctx context.Context, ownerID string, opts LevelOptions) (LevelPage, error)
	// SearchFiles returns one page of ownerID's files matching opts, in name order;
	// ErrInvalidInput for a bad cursor.
	SearchFiles(ctx context.Context, ownerID string, opts SearchOptions) (Page, error)
	// RenameFile gives ownerID's file a new name and returns it; ErrNotFound if ownerID does
	// not own it.
	RenameFile(ctx context.Context, ownerID string, id uuid.UUID, name string) (File, error)
	// WalkFiles calls fn for each of ownerID's files whose name starts with prefix, in name
	// order, a page at a time (no transaction is held while fn runs), and stops at fn's first
	// error, which it returns.
	WalkFiles(ctx context.Context, ownerID, prefix string, fn func(File) error) error
}

// Folders serves folder listings, search, moves and walks over a FolderStore.
type Folders struct {
	store FolderStore
	blobs BlobStore
}

// NewFolders wires Folders; blobs opens the files a walk streams.
func NewFolders(store FolderStore, blobs BlobStore) *Folders {
	return &Folders{store: store, blobs: blobs}
}

// ListLevel returns a page of one folder level.
func (f *Folders) ListLevel(ctx context.Context, ownerID string, opts LevelOptions) (LevelPage, error) {
	if err := ValidateFolder(opts.Prefix); err != nil {
		return LevelPage{}, err
	}
	limit, err := pageLimit(opts.Limit)
	if err != nil {
		return LevelPage{}, err
	}
	opts.Limit = limit
	return f.store.ListLevel(ctx, ownerID, opts)
}

// Search returns a page of the files in a folder and below whose names contain the query.
func (f *Folders) Search(ctx context.Context, ownerID string, opts SearchOptions) (Page, error) {
	if err := ValidateFolder(opts.Prefix); err != nil {
		return Page{}, err
	}
	if err := validText("search", opts.Query); err != nil {
		return Page{}, err
	}
	if strings.TrimSpace(opts.Query) == "" {
		return Page{}, Invalid("search text is empty")
	}
	limit, err := pageLimit(opts.Limit)
	if err != nil {
		return Page{}, err
	}
	opts.Limit = limit
	return f.store.SearchFiles(ctx, ownerID, opts)
}

// Rename moves ownerID's file to a new name (a path moves it to another folder).
func (f *Folders) Rename(ctx context.Context, ownerID string, id uuid.UUID, name string) (File, error) {
	if err := ValidateName(name); err != nil {
		return File{}, err
	}
	return f.store.RenameFile(ctx, ownerID, id, name)
}

// Walk calls fn for each of ownerID's files under prefix, in name order.
func (f *Folders) Walk(ctx context.Context, ownerID, prefix string, fn func(File) error) error {
	if err := ValidateFolder(prefix); err != nil {
		return err
	}
	// A file the scanner has not passed is not served, so it is not part of a walk (a zip).
	return f.store.WalkFiles(ctx, ownerID, prefix, func(file File) error {
		if Servable(file) != nil {
			return nil
		}
		return fn(file)
	})
}

// OpenBlob opens a file's bytes for a walk (the file came from Walk, so it is the caller's).
func (f *Folders) OpenBlob(ctx context.Context, file File) (Blob, error) {
	return OpenBlob(ctx, f.blobs, file)
}

// pageLimit applies the listing default and bounds (those of ListOptions).
func pageLimit(n int) (int, error) {
	o, err := ListOptions{Limit: n}.normalize()
	return o.Limit, err
}
