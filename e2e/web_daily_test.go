package e2e_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWebDaily drives the page's daily work in chromium at a desktop and a phone width: the
// user menu says who is signed in, the quota bar shows the bytes stored against the quota, the
// top level shows folders beside files with IEC sizes, folders open and the breadcrumbs lead
// back, search looks in the folder and below, the list sorts by name, size and date, an image
// previews, a multi-selection downloads as a zip (its entries checked here) and is deleted, a
// folder dropped from disk is uploaded with its structure into the folder shown, upload cards
// are dismissed, and a rename moves a file to another folder. Screenshots go to the artifacts
// folder (docs/ holds copies linked from the README).
func TestWebDaily(t *testing.T) {
	ws := startWebStack(t)
	c := ws.client()
	u := c.newUser("erin-web", "")
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range 16 {
		img.Set(i, i, color.RGBA{R: 200, A: 255})
	}
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	used := 0
	// photos/ in upload order, so newest first is the reverse: zebra, cat, dog; by size: dog
	// (a small real PNG, for the preview), cat, zebra.
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"reports/2026/q3.pdf", nil}, {"reports/2026/q4.pdf", nil}, {"reports/2025/q3-old.pdf", nil}, {"reports/summary.txt", nil},
		{"photos/zebra.jpg", bytes.Repeat([]byte("z"), 5000)}, {"photos/cat.jpg", nil}, {"photos/dog.png", pic.Bytes()}, {"notes.txt", nil},
	} {
		if f.data == nil {
			f.data = []byte(strings.Repeat(f.name+"\n", 200))
		}
		c.upload(u.Token, f.name, f.data)
		used += len(f.data)
	}
	// many/ holds more files than a page (100) with sizes out of name order: sorting it must
	// ask the server, which sorts all its files, not only the first page loaded by name.
	type sized struct {
		name string
		size int
	}
	var many []sized
	for i := range 105 {
		f := sized{fmt.Sprintf("f%03d.txt", i), (i*37)%105 + 1} // 37 is prime to 105: sizes 1..105, each once
		c.upload(u.Token, "many/"+f.name, bytes.Repeat([]byte("m"), f.size))
		used += f.size
		many = append(many, f)
	}
	manyByName := func() []string {
		out := []string{}
		for _, f := range many {
			out = append(out, f.name)
		}
		return out
	}()
	slices.SortFunc(many, func(a, b sized) int { return a.size - b.size })
	var manyBySize []string
	for _, f := range many {
		manyBySize = append(manyBySize, f.name)
	}
	manyBySizeDesc := slices.Clone(manyBySize)
	slices.Reverse(manyBySizeDesc)
	// The folder a person drops from their disk.
	drop := filepath.Join(t.TempDir(), "trip")
	for name, body := range map[string]string{"day1/a.txt": "first day, a\n", "day1/b.txt": "first day, b\n", "c.txt": "c\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(drop, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(drop, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	artifacts := artifactsDir(t)
	res := runBrowser(t, "daily.mjs", map[string]any{
		"web": ws.Web.URL, "auth": ws.Auth.URL, "user": u.Name, "pass": "pw-" + u.Name + "-long-enough", "artifacts": artifacts,
		"quota": 6 << 20, "used": used,
		"top":               []string{"many/", "photos/", "reports/", "notes.txt"},
		"manyByName":        manyByName,
		"manyBySize":        manyBySize,
		"manyBySizeDesc":    manyBySizeDesc,
		"reports":           []string{"2025/", "2026/", "summary.txt"},
		"reports2026":       []string{"q3.pdf", "q4.pdf"},
		"searchQ3":          []string{"reports/2025/q3-old.pdf", "reports/2026/q3.pdf"},
		"photosByName":      []string{"cat.jpg", "dog.png", "zebra.jpg"},
		"photosBySize":      []string{"dog.png", "cat.jpg", "zebra.jpg"},
		"photosNewestFirst": []string{"dog.png", "cat.jpg", "zebra.jpg"},
		"zipPick":           []string{"photos/cat.jpg", "photos/zebra.jpg"},
		"dropDir":           drop,
		"dropped":           []string{"trip/day1/a.txt", "trip/day1/b.txt", "trip/c.txt"},
		"reportsAfterDrop":  []string{"2025/", "2026/", "trip/", "summary.txt"},
		"dropTop":           "trip/",
		"deletePick":        []string{"reports/trip/c.txt"},
		"dropAfterDelete":   []string{"day1/"},
		"reportsAfterMove":  []string{"2025/", "2026/", "trip/"},
		"topAfterMove":      []string{"archive/", "many/", "photos/", "reports/", "notes.txt"},
	})
	t.Logf("browser steps: %s", strings.Join(res.Steps, "; "))
	if n := ws.queryInt(`SELECT count(*) FROM files WHERE name = 'archive/summary.txt'`); n != 1 {
		t.Errorf("after the move, %d files are called archive/summary.txt", n)
	}
	// The dropped folder kept its structure under the folder shown; the deleted file is gone.
	if n := ws.queryInt(`SELECT count(*) FROM files WHERE name IN ('reports/trip/day1/a.txt', 'reports/trip/day1/b.txt')`); n != 2 {
		t.Errorf("the dropped folder's files under reports/trip/day1/: %d, want 2", n)
	}
	if n := ws.queryInt(`SELECT count(*) FROM files WHERE name LIKE '%c.txt'`); n != 0 {
		t.Errorf("reports/trip/c.txt was deleted with the selection, but %d files end in c.txt", n)
	}
	// The zip of the selection holds exactly the two files, with their bytes.
	zr, err := zip.OpenReader(res.Zip)
	if err != nil {
		t.Fatalf("the selection's zip: %v", err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "zebra.jpg" {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if _, err := b.ReadFrom(r); err != nil || b.Len() != 5000 {
				t.Errorf("zebra.jpg in the zip: %d bytes, %v", b.Len(), err)
			}
			r.Close()
		}
	}
	slices.Sort(names)
	if want := []string{"cat.jpg", "zebra.jpg"}; !slices.Equal(names, want) {
		t.Errorf("zip entries %q, want %q", names, want)
	}
	t.Logf("screenshots: %s", filepath.Join(artifacts, "web-*.png"))
}
