package files_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestSharing: a share lets its recipient, and no one else, read the file (never delete it);
// only the owner can share or unshare; unsharing takes effect at once.
func TestSharing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.service()
	sh := files.NewSharing(e.db, e.clock.Now)
	f := upload(t, svc, "alice", "report.pdf", []byte("%PDF"))

	if _, err := sh.Share(t.Context(), "alice", f.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Share(t.Context(), "alice", f.ID, "bob"); err != nil {
		t.Fatalf("sharing twice: %v, want no error", err)
	}
	if _, b, err := svc.Open(t.Context(), "bob", f.ID); err != nil || string(readAll(t, b)) != "%PDF" {
		t.Fatalf("recipient's Open: %v", err)
	}
	page, err := sh.ListShared(t.Context(), "bob", files.ListOptions{})
	if err != nil || len(page.Files) != 1 || page.Files[0].ID != f.ID {
		t.Fatalf("bob's shared list: %+v, %v", page.Files, err)
	}
	if _, err := svc.Get(t.Context(), "carol", f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("a third user's Get: %v, want ErrNotFound", err)
	}
	if page, err := sh.ListShared(t.Context(), "carol", files.ListOptions{}); err != nil || len(page.Files) != 0 {
		t.Fatalf("carol's shared list: %+v, %v", page.Files, err)
	}
	if err := svc.Delete(t.Context(), "bob", f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("recipient's Delete: %v, want ErrNotFound", err)
	}
	if page, err := svc.List(t.Context(), "bob", files.ListOptions{}); err != nil || len(page.Files) != 0 {
		t.Fatalf("a share is not in the recipient's own list: %+v, %v", page.Files, err)
	}

	// Only the owner shares and unshares; the answers do not tell a stranger the file exists.
	if _, err := sh.Share(t.Context(), "bob", f.ID, "carol"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("recipient resharing: %v, want ErrNotFound", err)
	}
	if err := sh.Unshare(t.Context(), "carol", f.ID, "bob"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("stranger unsharing: %v, want ErrNotFound", err)
	}
	if _, err := sh.Share(t.Context(), "alice", uuid.New(), "bob"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("sharing an unknown file: %v, want ErrNotFound", err)
	}
	for _, user := range []string{"alice", "", "with space", strings.Repeat("u", files.MaxUserIDBytes+1)} {
		if _, err := sh.Share(t.Context(), "alice", f.ID, user); !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("sharing with %q: %v, want ErrInvalidInput", user, err)
		}
	}

	if err := sh.Unshare(t.Context(), "alice", f.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(t.Context(), "bob", f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("Get after unshare: %v, want ErrNotFound", err)
	}
	if err := sh.Unshare(t.Context(), "alice", f.ID, "bob"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("unsharing twice: %v, want ErrNotFound", err)
	}
	if n := e.count(`SELECT count(*) FROM file_shares`); n != 0 {
		t.Fatalf("%d shares left, want 0", n)
	}
}

// TestShareGoesWithTheFile: deleting a shared file ends the share.
func TestShareGoesWithTheFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.service()
	sh := files.NewSharing(e.db, e.clock.Now)
	f := upload(t, svc, "alice", "a", []byte("a"))
	if _, err := sh.Share(t.Context(), "alice", f.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(t.Context(), "alice", f.ID); err != nil {
		t.Fatal(err)
	}
	if page, err := sh.ListShared(t.Context(), "bob", files.ListOptions{}); err != nil || len(page.Files) != 0 {
		t.Fatalf("bob's shared list after the delete: %+v, %v", page.Files, err)
	}
	if n := e.count(`SELECT count(*) FROM file_shares`); n != 0 {
		t.Fatalf("%d shares left, want 0", n)
	}
}

// TestSharerName: a share keeps its owner's username as their token named them, and the
// recipient's list shows it; a name that is no plausible username (control characters a
// terminal would obey, spaces, too long) is not kept, nor is a second grant's name.
func TestSharerName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.service()
	sh := files.NewSharing(e.db, e.clock.Now)
	names := map[string]string{ // file name -> the owner name its grant carries
		"named.txt": "alice", "none.txt": "", "escape.txt": "\x1b]8;;https://evil.example\x07alice", "space.txt": "alice smith",
		"long.txt": strings.Repeat("a", 65), "longest.txt": strings.Repeat("a", 64), "accent.txt": "zoë",
	}
	want := map[string]string{"named.txt": "alice", "longest.txt": strings.Repeat("a", 64)}
	for name, owner := range names {
		f := upload(t, svc, "alice-id", name, []byte(name))
		if _, err := sh.Grant(t.Context(), files.Grant{OwnerID: "alice-id", OwnerName: owner, FileID: f.ID, UserID: "bob-id"}); err != nil {
			t.Fatalf("grant of %s by %q: %v", name, owner, err)
		}
		if name == "named.txt" { // granted again under another name: the first one stays
			if _, err := sh.Grant(t.Context(), files.Grant{OwnerID: "alice-id", OwnerName: "mallory", FileID: f.ID, UserID: "bob-id"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	page, err := sh.ListShared(t.Context(), "bob-id", files.ListOptions{})
	if err != nil || len(page.Files) != len(names) {
		t.Fatalf("bob's shared list: %d files, %v; want %d", len(page.Files), err, len(names))
	}
	for _, f := range page.Files {
		if f.SharerName != want[f.Name] || f.OwnerID != "alice-id" {
			t.Errorf("%s: shared by %q (owner %s), want %q (alice-id)", f.Name, f.SharerName, f.OwnerID, want[f.Name])
		}
	}
	// The owner's own listing carries no sharer name.
	mine, err := svc.List(t.Context(), "alice-id", files.ListOptions{})
	if err != nil || len(mine.Files) != len(names) || mine.Files[0].SharerName != "" {
		t.Fatalf("alice's own list: %+v, %v", mine.Files, err)
	}
}
