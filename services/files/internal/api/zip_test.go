package api

import (
	"testing"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestZipName: entry names are safe, unique even on case-insensitive systems, and relative to
// the selection's common folder.
func TestZipName(t *testing.T) {
	for in, want := range map[string]string{
		"a/b.txt":          "a/b.txt",
		"../../etc/passwd": "etc/passwd",
		"/abs/x":           "abs/x",
		"a//b/./c":         "a/b/c",
		`C:\win\x.txt`:     "C__win_x.txt",
		"con.txt":          "_con.txt",
		"dir/nul":          "dir/_nul",
		"trail. ":          "trail",
		"q?*<>|\"":         "q______",
		"tab\there":        "tab_here",
		"...":              "file",
		"Ω/é.txt":          "Ω/é.txt",
	} {
		if got := zipName(in); got != want {
			t.Errorf("zipName(%q) = %q, want %q", in, got, want)
		}
	}
	z := newZipStream(nil, "")
	for _, tc := range [][2]string{{"a.txt", "a.txt"}, {"a.txt", "a (2).txt"}, {"A.TXT", "A (3).TXT"}, {"a.txt", "a (4).txt"}, {"d/x", "d/x"}, {"d/x", "d/x (2)"}} {
		if got := z.unique(tc[0]); got != tc[1] {
			t.Errorf("unique(%q) = %q, want %q", tc[0], got, tc[1])
		}
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"a/b/c.txt", "a/b/d/e.txt"}, "a/b/"},
		{[]string{"a/b/c.txt", "a/x.txt"}, "a/"},
		{[]string{"a/b/c.txt", "z.txt"}, ""},
		{[]string{"a/b/c.txt"}, "a/b/"},
		{[]string{"ab/c", "a/c"}, ""},
	} {
		var list []files.File
		for _, n := range tc.names {
			list = append(list, files.File{Name: n})
		}
		if got := commonFolder(list); got != tc.want {
			t.Errorf("commonFolder(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}
