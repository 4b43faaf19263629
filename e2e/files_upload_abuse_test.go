package e2e_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMultipartAbuse: thousands of parts, a huge part header, a bad or missing boundary, and
// a body with no file part are refused quickly with 400 or 413, keeping nothing.
func TestMultipartAbuse(t *testing.T) {
	s, dir := filesStack(t, map[string]string{"COFFER_FILES_MAX_FILE_SIZE": "1M"})
	c := s.client()
	alice := c.newUser("alice", "")
	const boundary = "xyzzy"
	ct := "multipart/form-data; boundary=" + boundary

	var many strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&many, "--%s\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n", boundary, i)
	}
	many.WriteString("--" + boundary + "--\r\n")
	hugeHeader := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nX-Pad: " +
		strings.Repeat("p", 2<<20) + "\r\n\r\ndata\r\n--" + boundary + "--\r\n"
	cases := []struct {
		name, contentType, body string
	}{
		{"5,000 parts", ct, many.String()},
		{"2 MiB part header", ct, hugeHeader},
		{"no boundary", "multipart/form-data", "--x\r\n\r\n"},
		{"boundary too long", "multipart/form-data; boundary=" + strings.Repeat("b", 71), "x"},
		{"wrong boundary", ct, "--other\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nx\r\n--other--\r\n"},
		{"no file part", ct, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nv\r\n--" + boundary + "--\r\n"},
		{"truncated", ct, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nno closing boundary"},
	}
	for _, tc := range cases {
		start := time.Now()
		r := c.do("POST", c.files+"/v1/files", strings.NewReader(tc.body), with(alice.Token, map[string]string{"Content-Type": tc.contentType}))
		if r.Status != http.StatusBadRequest && r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d %s, want 400 or 413", tc.name, r.Status, r.Body)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v", tc.name, d)
		}
	}
	if rows, blobs := s.fileRows(), countFiles(t, dir); rows != 0 || blobs != 0 {
		t.Fatalf("after multipart abuse: %d rows, %d files on disk; want none", rows, blobs)
	}
}

// TestAbortedAndSlowUploads: a client that disconnects mid-upload leaves no row and no
// bytes; a client trickling its body does not stop others; zero-byte files work.
func TestAbortedAndSlowUploads(t *testing.T) {
	s, dir := filesStack(t, nil)
	c := s.client()
	alice := c.newUser("alice", "")

	// Abort: declare 10 MiB, send 1 MiB, hang up.
	conn, err := net.Dial("tcp", s.Files[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/files?name=aborted HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", alice.Token, 10<<20)
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	conn.Write(chunk)
	conn.Close()

	// Trickle: a second client sends a byte now and then while others work normally.
	slow, err := net.Dial("tcp", s.Files[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /v1/files?name=slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n", alice.Token)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				slow.Write([]byte("x"))
			}
		}
	})
	data := []byte("normal traffic")
	for i := range 10 {
		f := c.upload(alice.Token, fmt.Sprintf("n%d", i), data)
		if r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(alice.Token)); r.Status != 200 || !bytes.Equal(r.Body, data) {
			t.Fatalf("download while a client trickles: %d", r.Status)
		}
	}
	empty := c.upload(alice.Token, "empty", nil)
	if r := c.do("GET", c.files+"/v1/files/"+empty.ID+"/content", nil, bearer(alice.Token)); r.Status != 200 || len(r.Body) != 0 || empty.Size != 0 ||
		empty.SHA256 != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("zero-byte file: %d, %d bytes, %+v", r.Status, len(r.Body), empty)
	}
	close(stop)
	wg.Wait()
	slow.Close()

	// Neither the aborted nor the abandoned slow upload is visible, and their bytes go.
	want := int64(11)
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows, blobs := s.fileRows(), countFiles(t, dir)
		if rows == want && int64(blobs) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after aborted uploads: %d rows, %d files on disk; want %d and %d", rows, blobs, want, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l, _ := c.list(alice.Token, "?prefix=slow"); len(l.Files) != 0 {
		t.Fatal("the abandoned upload is listed")
	}
	if l, _ := c.list(alice.Token, "?prefix=aborted"); len(l.Files) != 0 {
		t.Fatal("the aborted upload is listed")
	}
}

// TestReadsDuringDelete: downloads racing a delete get the whole file or a 404, never a
// torn body.
func TestReadsDuringDelete(t *testing.T) {
	s, _ := filesStack(t, nil)
	c := s.client()
	alice := c.newUser("alice", "")
	data := make([]byte, 8<<20)
	rand.Read(data)
	for round := range 3 {
		f := c.upload(alice.Token, fmt.Sprintf("r%d", round), data)
		var wg sync.WaitGroup
		results := make([]string, 8)
		for i := range results {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", c.files+"/v1/files/"+f.ID+"/content", nil)
				req.Header.Set("Authorization", "Bearer "+alice.Token)
				resp, err := c.http.Do(req)
				if err != nil {
					results[i] = "error " + err.Error()
					return
				}
				defer resp.Body.Close()
				var b bytes.Buffer
				_, err = b.ReadFrom(resp.Body)
				switch {
				case resp.StatusCode == 404:
					results[i] = "404"
				case resp.StatusCode == 200 && err == nil && bytes.Equal(b.Bytes(), data):
					results[i] = "whole"
				default:
					results[i] = fmt.Sprintf("torn: %d, %d bytes, %v", resp.StatusCode, b.Len(), err)
				}
			})
		}
		if r := c.do("DELETE", c.files+"/v1/files/"+f.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d", r.Status)
		}
		wg.Wait()
		for _, res := range results {
			if res != "whole" && res != "404" {
				t.Fatalf("round %d: a read during delete got %s", round, res)
			}
		}
	}
}

// TestSilentUploadIsCutOff: an upload whose body goes silent longer than
// COFFER_FILES_UPLOAD_IDLE_TIMEOUT is cut off, keeps nothing and releases its quota hold.
func TestSilentUploadIsCutOff(t *testing.T) {
	s, dir := filesStack(t, map[string]string{"COFFER_FILES_UPLOAD_IDLE_TIMEOUT": "300ms", "COFFER_FILES_USER_QUOTA": "1M"})
	c := s.client()
	alice := c.newUser("alice", "")
	for _, ct := range []string{"application/octet-stream", "multipart/form-data; boundary=b"} {
		conn, err := net.Dial("tcp", s.Files[0].Addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v1/files?name=silent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\nabc", alice.Token, ct)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 4096)
		n, _ := conn.Read(buf) // returns once the server gives up on the body
		conn.Close()
		if n > 0 && !strings.Contains(string(buf[:n]), " 400 ") {
			t.Fatalf("%s: server answered %q, want 400 or a closed connection", ct, buf[:n])
		}
		if n == 0 {
			t.Fatalf("%s: connection closed without an answer", ct)
		}
	}
	if rows, blobs, held := s.fileRows(), countFiles(t, dir), s.queryInt(`SELECT count(*) FROM file_quota_reservations`); rows != 0 || blobs != 0 || held != 0 {
		t.Fatalf("after silent uploads: %d rows, %d files, %d reservations; want none", rows, blobs, held)
	}
}
