package e2e_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	coffer "github.com/cofferhq/coffer/pkg/client"
)

// TestWebPreview: previews in chromium (e2e/browser/preview.mjs). A real PNG and a real PDF
// preview from object URLs (the PDF in a frame the browser's PDF viewer takes); HTML bytes
// named .pdf and SVG bytes named .png, each with script, run nothing in the page; SVG and
// HTML files offer no preview. The recipient of alice's shares sees "Shared by alice-…" by
// name, and by id for a share stored without a name (as an older node stored them); the
// header's user menu names bob from his token's preferred_username while /v1/me is refused.
// The page's CSP allows frames and images from object URLs only.
func TestWebPreview(t *testing.T) {
	ws := startWebStack(t)
	c := ws.client()
	alice, bob := c.newUser("alice-preview", ""), c.newUser("bob-preview", "")
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 24, 12))
	for i := range 12 {
		img.Set(i, i, color.RGBA{B: 200, A: 255})
	}
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	// Script that, run anywhere in the page, would leave a trace the browser test looks for.
	const script = `<script>parent.postMessage('script ran','*');top.document.title='pwned'</script>`
	upload := func(name, contentType string, data []byte) fileJSON {
		t.Helper()
		f, err := c.api(coffer.Token{AccessToken: alice.Token}).Upload(c.ctx(), name, bytes.NewReader(data), &coffer.UploadOptions{Size: int64(len(data)), ContentType: contentType})
		if err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
		return fileJSON(f)
	}
	upload("picture.png", "image/png", pic.Bytes())
	doc := upload("letter.pdf", "application/pdf", minimalPDF("Coffer preview"))
	upload("trap.pdf", "text/html", []byte(`<!doctype html><p id="trap">trap</p>`+script+`<img src="x" onerror="parent.postMessage('onerror ran','*')">`))
	upload("trap.png", "application/octet-stream", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="parent.postMessage('svg ran','*')">`+script+`</svg>`))
	upload("drawing.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg">`+script+`</svg>`))
	upload("page.html", "text/html", []byte(`<!doctype html>`+script))
	old := upload("older.txt", "text/plain", []byte("shared by an older node"))

	// Two shares with bob; the second loses its name, as a previous release stored shares.
	for _, f := range []fileJSON{doc, old} {
		b := fmt.Sprintf(`{"username":%q}`, bob.Name)
		if r := c.do("POST", c.files+"/v1/files/"+f.ID+"/shares", strings.NewReader(b), with(alice.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusCreated {
			t.Fatalf("share %s: %d %s", f.Name, r.Status, r.Body)
		}
	}
	if n := ws.queryInt(`WITH u AS (UPDATE file_shares SET sharer_name = NULL WHERE file_id = $1 RETURNING 1) SELECT count(*) FROM u`, old.ID); n != 1 {
		t.Fatalf("cleared the name of %d shares, want 1", n)
	}

	artifacts := artifactsDir(t)
	res := runBrowser(t, "preview.mjs", map[string]any{
		"web": ws.Web.URL, "auth": ws.Auth.URL, "artifacts": artifacts,
		"user": alice.Name, "pass": "pw-" + alice.Name + "-long-enough", "user2": bob.Name, "pass2": "pw-" + bob.Name + "-long-enough",
		"png": "picture.png", "pdf": "letter.pdf", "trapPDF": "trap.pdf", "trapPNG": "trap.png", "noPreview": []string{"drawing.svg", "page.html"},
		"sharedBy": map[string]string{"letter.pdf": "Shared by " + alice.Name, "older.txt": "Shared by " + alice.ID},
	})
	t.Logf("browser steps: %s", strings.Join(res.Steps, "; "))
	t.Logf("screenshots: %s", filepath.Join(artifacts, "web-preview-pdf.png"))

	// Frames and images only from the page's own object URLs; no plugins.
	csp := c.do("GET", ws.Web.URL+"/", nil, nil).Header.Get("Content-Security-Policy")
	for _, want := range []string{"img-src 'self' blob:;", "frame-src blob:;", "default-src 'none';"} {
		if !strings.Contains(csp+";", want) {
			t.Errorf("page CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "object-src") || strings.Contains(csp, "child-src") {
		t.Errorf("page CSP %q opens object-src or child-src", csp)
	}
}

// minimalPDF is a one-page PDF 1.4 showing text, with a correct cross-reference table.
func minimalPDF(text string) []byte {
	content := fmt.Sprintf("BT /F1 18 Tf 20 40 Td (%s) Tj ET", text)
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 240 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}
