package e2e_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coffer "github.com/cofferhq/coffer/pkg/client"
)

// levelJSON is a listing with delimiter=/.
type levelJSON struct {
	Files      []fileJSON              `json:"files"`
	Folders    []struct{ Name string } `json:"folders"`
	NextCursor *string                 `json:"next_cursor"`
}

// level lists every entry of one folder level, page by page (folders end in "/").
func (c *client) level(tok, prefix string, limit int) []string {
	c.t.Helper()
	var out []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 2000 {
			c.t.Fatal("listing never ended")
		}
		q := url.Values{"delimiter": {"/"}, "prefix": {prefix}, "limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := c.do("GET", c.files+"/v1/files?"+q.Encode(), nil, bearer(tok))
		if r.Status != http.StatusOK {
			c.t.Fatalf("level %q: %d %s", prefix, r.Status, r.Body)
		}
		var l levelJSON
		r.JSON(c.t, &l)
		if len(l.Files)+len(l.Folders) > limit {
			c.t.Fatalf("page of %d entries, limit %d", len(l.Files)+len(l.Folders), limit)
		}
		for _, f := range l.Folders {
			out = append(out, f.Name)
		}
		for _, f := range l.Files {
			out = append(out, f.Name)
		}
		if l.NextCursor == nil {
			slices.Sort(out)
			return out
		}
		cursor = *l.NextCursor
	}
}

// TestFolders: names that are paths list by level (delimiter=/) as S3 does, page across a
// level of 1,000 entries, move with PATCH, and download as a streamed zip that Go's
// archive/zip and Debian's unzip both accept, with entry names that cannot escape.
func TestFolders(t *testing.T) {
	t.Parallel()
	s, _ := filesStack(t, nil)
	c := s.client()
	alice := c.newUser("alice-folders", "")
	bob := c.newUser("bob-folders", "")

	tree := map[string][]byte{
		"reports/2026/q3.pdf":       []byte("q3 numbers"),
		"reports/2026/q4.pdf":       bytes.Repeat([]byte("q4 "), 50_000),
		"reports/2026/drafts/a.txt": []byte("draft a"),
		"reports/2025/q1.pdf":       []byte("q1"),
		"reports/summary.txt":       []byte("summary"),
		"reports.txt":               []byte("beside the folder"),
		"photos/cat.jpg":            []byte("meow"),
		"Ω/é.txt":                   []byte("unicode"),
	}
	ids := map[string]string{}
	for name, data := range tree {
		ids[name] = c.upload(alice.Token, name, data).ID
	}
	c.upload(bob.Token, "reports/bob.txt", []byte("bob's"))

	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"photos/", "reports.txt", "reports/", "Ω/"}},
		{"reports/", []string{"reports/2025/", "reports/2026/", "reports/summary.txt"}},
		{"reports/2026/", []string{"reports/2026/drafts/", "reports/2026/q3.pdf", "reports/2026/q4.pdf"}},
		{"reports/2026/drafts/", []string{"reports/2026/drafts/a.txt"}},
	} {
		for _, limit := range []int{1, 2, 1000} {
			if got := c.level(alice.Token, tc.prefix, limit); !slices.Equal(got, tc.want) {
				t.Errorf("level %q (limit %d) = %q, want %q", tc.prefix, limit, got, tc.want)
			}
		}
	}

	t.Run("names that would escape are refused", func(t *testing.T) {
		for _, name := range []string{"../up.txt", "/etc/passwd", "a//b", "a/./b", "dir/"} {
			_, err := c.api(coffer.Token{AccessToken: alice.Token}).Upload(c.ctx(), name, strings.NewReader("x"), nil)
			if err == nil || !strings.Contains(err.Error(), "invalid") {
				t.Errorf("upload %q: %v, want invalid input", name, err)
			}
		}
		for _, q := range []string{"delimiter=%2C", "delimiter=/&prefix=a", "delimiter=/&prefix=../", "delimiter=/&cursor=%21", "q=x&delimiter=/", "q=%00", "q=%ff", "q=", "delimiter=/&prefix=%00/"} {
			r := c.do("GET", c.files+"/v1/files?"+q, nil, bearer(alice.Token))
			expectProblem(t, q, r, http.StatusBadRequest, "invalid_request")
		}
	})

	t.Run("search by part of a name in a folder and below", func(t *testing.T) {
		r := c.do("GET", c.files+"/v1/files?q=Q&prefix=reports/", nil, bearer(alice.Token))
		var l levelJSON
		r.JSON(t, &l)
		var got []string
		for _, f := range l.Files {
			got = append(got, f.Name)
		}
		if want := []string{"reports/2025/q1.pdf", "reports/2026/q3.pdf", "reports/2026/q4.pdf"}; !slices.Equal(got, want) {
			t.Errorf("search Q in reports/ = %q, want %q", got, want)
		}
	})

	t.Run("a level of 1,000 entries pages completely", func(t *testing.T) {
		var wg sync.WaitGroup
		names := make(chan string)
		for range 6 {
			wg.Go(func() {
				for n := range names {
					c.upload(alice.Token, n, []byte(n))
				}
			})
		}
		var want []string
		for i := range 1000 {
			n := fmt.Sprintf("many/f%04d.txt", i)
			if i%100 == 0 { // a tenth of the entries are folders with files below
				n = fmt.Sprintf("many/d%04d/x/y.txt", i)
				names <- fmt.Sprintf("many/d%04d/z.txt", i)
				want = append(want, fmt.Sprintf("many/d%04d/", i))
			} else {
				want = append(want, n)
			}
			names <- n
		}
		close(names)
		wg.Wait()
		slices.Sort(want)
		for _, limit := range []int{1000, 37} {
			if got := c.level(alice.Token, "many/", limit); !slices.Equal(got, want) {
				t.Errorf("level many/ (limit %d): %d entries, want %d", limit, len(got), len(want))
			}
		}
	})

	t.Run("move with PATCH; only the owner", func(t *testing.T) {
		id := ids["photos/cat.jpg"]
		patch := func(tok, id, body string) response {
			return c.do("PATCH", c.files+"/v1/files/"+id, strings.NewReader(body), with(tok, map[string]string{"Content-Type": "application/json"}))
		}
		r := patch(alice.Token, id, `{"name":"photos/2026/cat.jpg"}`)
		var f fileJSON
		r.JSON(t, &f)
		if r.Status != http.StatusOK || f.ID != id || f.Name != "photos/2026/cat.jpg" {
			t.Fatalf("move: %d %s", r.Status, r.Body)
		}
		if got := c.level(alice.Token, "photos/", 10); !slices.Equal(got, []string{"photos/2026/"}) {
			t.Errorf("after the move photos/ = %q", got)
		}
		expectProblem(t, "bob moves alice's file", patch(bob.Token, id, `{"name":"mine.jpg"}`), http.StatusNotFound, "not_found")
		expectProblem(t, "move to ../", patch(alice.Token, id, `{"name":"../x"}`), http.StatusBadRequest, "invalid_request")
		expectProblem(t, "move with no name", patch(alice.Token, id, `{}`), http.StatusBadRequest, "invalid_request")
		if n := s.queryInt(`SELECT count(*) FROM files WHERE name = 'photos/2026/cat.jpg'`); n != 1 {
			t.Errorf("%d rows carry the new name", n)
		}
	})

	t.Run("a folder downloads as a zip", func(t *testing.T) {
		r := c.do("GET", c.files+"/v1/zip?prefix=reports/", nil, bearer(alice.Token))
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/zip" ||
			!strings.Contains(r.Header.Get("Content-Disposition"), `filename="reports.zip"`) {
			t.Fatalf("zip: %d %v %s", r.Status, r.Header, r.Body)
		}
		zr, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body)))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]byte{}
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %v", zf.Name, err)
			}
			got[zf.Name] = b
		}
		for name, data := range tree {
			if !strings.HasPrefix(name, "reports/") {
				continue
			}
			if !bytes.Equal(got[name], data) {
				t.Errorf("zip entry %s: %d bytes, want %d", name, len(got[name]), len(data))
			}
			delete(got, name)
		}
		if len(got) != 0 {
			t.Errorf("unexpected zip entries (bob's, or beside the folder): %v", slices.Collect(maps.Keys(got)))
		}

		// Debian's unzip checks the archive as people will open it.
		unzip, err := exec.LookPath("unzip")
		if err != nil {
			t.Fatal("unzip is missing (apt-get install unzip): the zip cannot be checked")
		}
		path := filepath.Join(t.TempDir(), "reports.zip")
		os.WriteFile(path, r.Body, 0o600)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, unzip, "-t", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors detected") {
			t.Errorf("unzip -t: %v\n%s", err, out)
		}

		// A selection zips relative to its common folder; a file of bob's is not found.
		sel := c.do("GET", c.files+"/v1/zip?id="+ids["reports/2026/q3.pdf"]+"&id="+ids["reports/2026/drafts/a.txt"], nil, bearer(alice.Token))
		zr, err = zip.NewReader(bytes.NewReader(sel.Body), int64(len(sel.Body)))
		if err != nil || len(zr.File) != 2 || zr.File[0].Name != "q3.pdf" || zr.File[1].Name != "drafts/a.txt" {
			t.Fatalf("selection zip: %v %d %s", err, sel.Status, sel.Body)
		}
		expectProblem(t, "bob zips alice's folder", c.do("GET", c.files+"/v1/zip?prefix=reports/2026/", nil, bearer(bob.Token)), http.StatusNotFound, "not_found")
		expectProblem(t, "bob zips alice's file", c.do("GET", c.files+"/v1/zip?id="+ids["reports.txt"], nil, bearer(bob.Token)), http.StatusNotFound, "not_found")
		expectProblem(t, "zip of ../", c.do("GET", c.files+"/v1/zip?prefix=../", nil, bearer(alice.Token)), http.StatusBadRequest, "invalid_request")
		expectProblem(t, "zip of nothing", c.do("GET", c.files+"/v1/zip", nil, bearer(alice.Token)), http.StatusBadRequest, "invalid_request")
	})
}
