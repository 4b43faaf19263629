package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWebDaily drives the page's folders in chromium at a desktop and a phone width: the top
// level shows folders beside files with IEC sizes, folders open and the breadcrumbs lead
// back, search looks in the folder and below, and a rename moves a file to another folder.
// Screenshots go to the artifacts folder (docs/ holds copies linked from the README).
func TestWebDaily(t *testing.T) {
	ws := startWebStack(t)
	c := ws.client()
	u := c.newUser("erin-web", "")
	for _, name := range []string{"reports/2026/q3.pdf", "reports/2026/q4.pdf", "reports/2025/q3-old.pdf", "reports/summary.txt", "photos/cat.jpg", "notes.txt"} {
		c.upload(u.Token, name, []byte(strings.Repeat(name+"\n", 200)))
	}
	artifacts := artifactsDir(t)
	res := runBrowser(t, "daily.mjs", map[string]any{
		"web": ws.Web.URL, "auth": ws.Auth.URL, "user": u.Name, "pass": "pw-" + u.Name + "-long-enough", "artifacts": artifacts,
		"top":              []string{"photos/", "reports/", "notes.txt"},
		"reports":          []string{"2025/", "2026/", "summary.txt"},
		"reports2026":      []string{"q3.pdf", "q4.pdf"},
		"searchQ3":         []string{"reports/2025/q3-old.pdf", "reports/2026/q3.pdf"},
		"reportsAfterMove": []string{"2025/", "2026/"},
		"topAfterMove":     []string{"archive/", "photos/", "reports/", "notes.txt"},
	})
	t.Logf("browser steps: %s", strings.Join(res.Steps, "; "))
	if n := ws.queryInt(`SELECT count(*) FROM files WHERE name = 'archive/summary.txt'`); n != 1 {
		t.Errorf("after the move, %d files are called archive/summary.txt", n)
	}
	t.Logf("screenshots: %s", filepath.Join(artifacts, "web-folders-*.png"))
}
