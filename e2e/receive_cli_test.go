package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"

	coffer "github.com/cofferhq/coffer/pkg/client"
)

// TestCLIReceive: `coffer link` prints the page for people by default (the signed form with
// --signed); `coffer links` and `coffer shares FILE` list what the owner handed out; `coffer
// request create|ls|close` makes, lists and closes a file request.
func TestCLIReceive(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	s, _ := filesStack(t, map[string]string{"COFFER_FILES_WEB_URL": "https://web.example"})
	s.client().newUser("bob-rcv", "")
	c := newCLI(t, bin, s)
	c.ok("pw-carol-rcv-long-enough\n", "signup", "carol-rcv", "--password-stdin")
	c.ok("pw-carol-rcv-long-enough\n", "login", "carol-rcv", "--password-stdin")
	path := filepath.Join(t.TempDir(), "report.txt")
	writeRandom(t, path, 500)
	c.ok("", "put", path)

	page := strings.TrimSpace(c.ok("", "link", "report.txt", "--max-downloads", "1"))
	if !strings.HasPrefix(page, "https://web.example/s/") {
		t.Fatalf("coffer link printed %q, want the page for people", page)
	}
	if signed := strings.TrimSpace(c.ok("", "link", "report.txt", "--signed")); !strings.Contains(signed, "/v1/links/") {
		t.Fatalf("coffer link --signed printed %q", signed)
	}
	var links []coffer.Link
	c.okJSON(&links, "links", "report.txt")
	var budget *int64
	for _, l := range links {
		if l.PageURL == page {
			budget = l.BudgetBytes
		}
		if l.URL != "" {
			t.Fatalf("coffer links shows a signed URL: %+v", l)
		}
	}
	if len(links) != 2 || budget == nil || *budget != 1000 {
		t.Fatalf("coffer links: %+v", links)
	}
	if table := c.ok("", "links"); !strings.Contains(table, "report.txt") || !strings.Contains(table, page) {
		t.Fatalf("coffer links table:\n%s", table)
	}
	c.ok("", "share", "report.txt", "bob-rcv")
	var shares []coffer.Share
	c.okJSON(&shares, "shares", "report.txt")
	if len(shares) != 1 || shares[0].UserID == "" {
		t.Fatalf("coffer shares: %+v", shares)
	}

	var r coffer.Request
	c.okJSON(&r, "request", "create", "Scans", "--max-files", "2", "--require-name", "--expires", "1h")
	if !r.Open || r.MaxFiles == nil || *r.MaxFiles != 2 || !r.RequireName || !strings.HasPrefix(r.PageURL, "https://web.example/r/") {
		t.Fatalf("coffer request create: %+v", r)
	}
	if out := strings.TrimSpace(c.ok("", "request", "create", "Photos")); !strings.HasPrefix(out, "https://web.example/r/") {
		t.Fatalf("coffer request create printed %q", out)
	}
	c.ok("", "request", "close", r.ID)
	var list []coffer.Request
	c.okJSON(&list, "request", "ls")
	if len(list) != 2 || list[1].ID != r.ID || list[1].Open || !list[0].Open {
		t.Fatalf("coffer request ls: %+v", list)
	}
	if table := c.ok("", "request", "ls"); !strings.Contains(table, "closed") || !strings.Contains(table, "Scans") {
		t.Fatalf("coffer request ls table:\n%s", table)
	}
}
