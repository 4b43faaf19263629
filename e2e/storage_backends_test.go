package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/s3test"
)

// storageBackend is one way to configure file nodes' blob storage for a test, with probes of
// what the backend holds.
type storageBackend struct {
	env        map[string]string
	incomplete func(t testing.TB) int // temp files or multipart uploads in progress
	blobs      func(t testing.TB) int // complete blobs
	orphan     func(t testing.TB)     // plants a blob no row references, as a crash would
}

func diskBackend(t testing.TB) storageBackend {
	dir := t.TempDir()
	return storageBackend{
		env: map[string]string{"COFFER_FILES_STORAGE": "disk", "COFFER_FILES_DATA_DIR": dir},
		incomplete: func(testing.TB) int {
			_, temps := blobFiles(dir)
			return len(temps)
		},
		blobs: func(testing.TB) int {
			blobs, _ := blobFiles(dir)
			return len(blobs)
		},
		orphan: func(t testing.TB) {
			k := uuid.NewString()
			sub := filepath.Join(dir, k[:2], k[2:4])
			if err := os.MkdirAll(sub, 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(sub, k), []byte("orphan"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func s3Backend(t testing.TB) storageBackend {
	srv := s3test.Start(t)
	ctx := context.Background()
	return storageBackend{
		env: s3Env(srv, srv.Bucket),
		incomplete: func(t testing.TB) int {
			ups, err := srv.MultipartUploads(ctx, srv.Bucket)
			if err != nil {
				t.Fatal(err)
			}
			return len(ups)
		},
		blobs: func(t testing.TB) int {
			objs, err := srv.Objects(ctx, srv.Bucket)
			if err != nil {
				t.Fatal(err)
			}
			return len(objs)
		},
		orphan: func(t testing.TB) {
			_, err := srv.Client().PutObject(ctx, &awss3.PutObjectInput{
				Bucket: aws.String(srv.Bucket), Key: aws.String(uuid.NewString()), Body: strings.NewReader("orphan"),
			})
			if err != nil {
				t.Fatal(err)
			}
		},
	}
}

var backends = map[string]func(t testing.TB) storageBackend{"disk": diskBackend, "s3": s3Backend}

// TestTwoNodesShareStorage: with PostgreSQL and the blob store shared, a file uploaded through
// one node downloads through the other at once, byte for byte, whole and by range, and a
// delete through either is seen by both.
func TestTwoNodesShareStorage(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			s := startStack(t, stackOptions{FileNodes: 2, FilesEnv: b.env})
			a := s.client()
			bNode := a.on(s.Files[1])
			tok := a.signUp("alice")

			for i, size := range []int{0, 1000, 13<<20 + 5} { // the last spans three S3 parts
				data := make([]byte, size)
				rand.Read(data)
				f := a.upload(tok, fmt.Sprintf("f%d.bin", i), data)
				r := bNode.do("GET", bNode.files+"/v1/files/"+f.ID+"/content", nil, bearer(tok))
				if r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
					t.Fatalf("size %d through the other node: status %d, %d bytes, equal %v", size, r.Status, len(r.Body), bytes.Equal(r.Body, data))
				}
				if size > 100 {
					r = bNode.do("GET", bNode.files+"/v1/files/"+f.ID+"/content", nil,
						map[string]string{"Authorization": "Bearer " + tok, "Range": "bytes=17-99"})
					if r.Status != http.StatusPartialContent || !bytes.Equal(r.Body, data[17:100]) {
						t.Fatalf("range through the other node: status %d, %d bytes", r.Status, len(r.Body))
					}
				}
			}
			if got := bNode.listCount(tok); got != 3 {
				t.Fatalf("the other node lists %d files, want 3", got)
			}
			f := a.upload(tok, "gone.bin", []byte("soon deleted"))
			if r := bNode.do("DELETE", bNode.files+"/v1/files/"+f.ID, nil, bearer(tok)); r.Status != http.StatusNoContent {
				t.Fatalf("delete through the other node: %d %s", r.Status, r.Body)
			}
			if r := a.do("GET", a.files+"/v1/files/"+f.ID+"/content", nil, bearer(tok)); r.Status != http.StatusNotFound {
				t.Fatalf("deleted file through the first node: %d, want 404", r.Status)
			}
			// The deleted file's blob stays for COFFER_FILES_BLOB_GRACE (a week by default), so a
			// database restored to a point before the delete still finds it; the collector
			// removes it afterwards (gc.TestBlobGrace).
			if got, want := b.blobs(t), 4; got != want {
				t.Fatalf("%d blobs stored, want %d (the deleted file's blob is kept for the blob grace)", got, want)
			}
		})
	}
}

// TestAbortedUploadLeavesNothing: a client that drops the connection mid-body leaves no file
// visible, no temporary file or multipart upload, no blob, and nothing for the collector.
func TestAbortedUploadLeavesNothing(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			s := startStack(t, stackOptions{FilesEnv: b.env})
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("file node logs:\n%s", s.Files[0].Logs())
				}
			})
			c := s.client()
			tok := c.signUp("alice")

			// 12 MiB sent of an undeclared size: on S3 the multipart upload has begun. (With a
			// declared size S3 gets one PutObject, which an abort leaves no trace of.)
			up := startPartialChunkedUpload(t, s.Files[0], tok, 12<<20)
			eventually(t, "the upload is in progress in the store", func() (bool, string) {
				n := b.incomplete(t)
				return n == 1, fmt.Sprintf("%d in progress", n)
			})
			up.Abort()
			eventually(t, "the aborted upload is cleaned up", func() (bool, string) {
				inc, blobs := b.incomplete(t), b.blobs(t)
				return inc == 0 && blobs == 0, fmt.Sprintf("%d in progress, %d blobs", inc, blobs)
			})
			if n := c.listCount(tok); n != 0 {
				t.Fatalf("%d files visible after an aborted upload, want 0", n)
			}
			out := s.runGC(b.env)
			if !strings.Contains(out, "removed 0 orphan blob(s) and 0 interrupted write(s)") {
				t.Fatalf("gc after a cleaned-up abort: %q, want nothing to remove", out)
			}
			// The node still works.
			c.upload(tok, "after.bin", []byte("fine"))
			if n := c.listCount(tok); n != 1 {
				t.Fatalf("%d files after a good upload, want 1", n)
			}
		})
	}
}

// TestCrashLeavesNothingAfterGC: a node killed mid-upload leaves a temporary file or an open
// multipart upload, and a crash between a blob's write and its row's commit leaves an orphan
// blob. Neither is ever visible, and one `coffer-files gc` removes both and nothing else.
func TestCrashLeavesNothingAfterGC(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			s := startStack(t, stackOptions{FilesEnv: b.env})
			c := s.client()
			tok := c.signUp("alice")
			kept := make([]byte, 6<<20)
			rand.Read(kept)
			f := c.upload(tok, "kept.bin", kept)

			victim := s.startKillableFiles(b.env)
			startPartialChunkedUpload(t, victim, tok, 12<<20) // chunked: a multipart upload on S3
			eventually(t, "the upload is in progress in the store", func() (bool, string) {
				n := b.incomplete(t)
				return n == 1, fmt.Sprintf("%d in progress", n)
			})
			victim.Kill()
			b.orphan(t)
			if inc, blobs := b.incomplete(t), b.blobs(t); inc != 1 || blobs != 2 {
				t.Fatalf("after the crash: %d in progress, %d blobs; want 1 and 2", inc, blobs)
			}
			if n := c.listCount(tok); n != 1 {
				t.Fatalf("%d files visible after the crash, want 1", n)
			}

			out := s.runGC(b.env)
			if !strings.Contains(out, "removed 1 orphan blob(s) and 1 interrupted write(s)") {
				t.Fatalf("gc: %q, want 1 orphan and 1 interrupted write removed", out)
			}
			if inc, blobs := b.incomplete(t), b.blobs(t); inc != 0 || blobs != 1 {
				t.Fatalf("after gc: %d in progress, %d blobs; want 0 and 1", inc, blobs)
			}
			r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(tok))
			if r.Status != http.StatusOK || !bytes.Equal(r.Body, kept) {
				t.Fatalf("the committed file after gc: status %d, equal %v", r.Status, bytes.Equal(r.Body, kept))
			}
			// A second run has nothing left to do.
			if out := s.runGC(b.env); !strings.Contains(out, "removed 0 orphan blob(s) and 0 interrupted write(s)") {
				t.Fatalf("second gc: %q", out)
			}
		})
	}
}

// TestS3Unavailable: the real S3 server is stopped under a running node. Uploads and
// downloads then answer 503 unavailable with Retry-After (never another 5xx, never a crash),
// no row and no multipart upload is left; once the server is back on the same port and
// folder, the same node process serves again without a restart, including the file stored
// before the outage.
func TestS3Unavailable(t *testing.T) {
	srv := s3test.Start(t)
	s := startStack(t, stackOptions{FilesEnv: s3Env(srv, srv.Bucket)})
	c := s.client()
	tok := c.signUp("alice")
	before := []byte("stored before the outage")
	f := c.upload(tok, "before.bin", before)
	node := s.Files[0]

	srv.Stop()
	h := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/octet-stream"}
	start := time.Now()
	for _, size := range []int{1 << 10, 7 << 20} { // one part, and a multipart upload
		r := c.do("POST", c.files+"/v1/files?name=during.bin", bytes.NewReader(make([]byte, size)), h)
		if r.Status != http.StatusServiceUnavailable || r.problemCode(t) != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%d-byte upload with S3 down: %d %s (Retry-After %q), want 503 unavailable", size, r.Status, r.Body, r.Header.Get("Retry-After"))
		}
	}
	r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(tok))
	if r.Status != http.StatusServiceUnavailable || r.problemCode(t) != "unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("download with S3 down: %d %s, want 503 unavailable", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), srv.Endpoint) || strings.Contains(string(r.Body), srv.Bucket) {
		t.Fatalf("503 body leaks the storage endpoint: %s", r.Body)
	}
	t.Logf("503s answered in %v", time.Since(start))
	if n := c.listCount(tok); n != 1 {
		t.Fatalf("%d files after the failed uploads, want 1 (no row for them)", n)
	}
	select {
	case <-node.Done():
		t.Fatalf("the node exited during the outage:\n%s", node.Logs())
	default:
	}

	srv.Restart(t)
	var after fileJSON
	waitFor(t, 60*time.Second, "an upload to succeed on the same node", func() bool {
		r := c.do("POST", c.files+"/v1/files?name=after.bin", bytes.NewReader([]byte("stored after the outage")), h)
		if r.Status == http.StatusCreated {
			r.JSON(t, &after)
		} else if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("upload while S3 comes back: %d %s", r.Status, r.Body)
		}
		return r.Status == http.StatusCreated
	})
	for id, want := range map[string][]byte{f.ID: before, after.ID: []byte("stored after the outage")} {
		if r := c.do("GET", c.files+"/v1/files/"+id+"/content", nil, bearer(tok)); r.Status != http.StatusOK || !bytes.Equal(r.Body, want) {
			t.Fatalf("download after recovery: %d %q", r.Status, r.Body)
		}
	}
	if n := c.listCount(tok); n != 2 {
		t.Fatalf("%d files after recovery, want 2", n)
	}
	if ups, err := srv.MultipartUploads(context.Background(), srv.Bucket); err != nil || len(ups) != 0 {
		t.Fatalf("multipart uploads left: %v, %v", ups, err)
	}
}

// TestPeriodicGC: a node's own collector, running on its interval, removes crash debris
// without anyone running the gc command, and leaves committed files alone.
func TestPeriodicGC(t *testing.T) {
	b := diskBackend(t)
	s := startStack(t, stackOptions{FilesEnv: b.env})
	c := s.client()
	tok := c.signUp("alice")
	f := c.upload(tok, "kept.txt", []byte("kept"))

	victim := s.startKillableFiles(b.env)
	startPartialUpload(t, victim, tok, 64<<20, 1<<20)
	eventually(t, "the upload is in progress", func() (bool, string) {
		n := b.incomplete(t)
		return n == 1, fmt.Sprintf("%d in progress", n)
	})
	victim.Kill()
	b.orphan(t)

	env := map[string]string{"COFFER_FILES_GC_INTERVAL": "50ms", "COFFER_FILES_GC_GRACE": "1ns", "COFFER_FILES_GC_INCOMPLETE_AGE": "1ns"}
	for k, v := range b.env {
		env[k] = v
	}
	s.StartFiles(env)
	eventually(t, "the node's collector removes the debris", func() (bool, string) {
		inc, blobs := b.incomplete(t), b.blobs(t)
		return inc == 0 && blobs == 1, fmt.Sprintf("%d in progress, %d blobs", inc, blobs)
	})
	if r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(tok)); r.Status != http.StatusOK || string(r.Body) != "kept" {
		t.Fatalf("the committed file: %d %q", r.Status, r.Body)
	}
}

// TestS3Downloads: the download features that lean on the blob's Seek (HEAD, single, suffix
// and multiple ranges, 416, conditional requests) work the same when the bytes come from S3
// through ranged GETs, and when a whole file or a large range is spliced from a connection
// of its own.
func TestS3Downloads(t *testing.T) {
	srv := s3test.Start(t)
	s := startStack(t, stackOptions{FilesEnv: s3Env(srv, srv.Bucket)})
	c := s.client()
	tok := c.signUp("alice")
	data := make([]byte, 7<<20+3) // two parts
	rand.Read(data)
	f := c.upload(tok, "big.bin", data)
	url := c.files + "/v1/files/" + f.ID + "/content"
	with := func(h map[string]string) map[string]string {
		h["Authorization"] = "Bearer " + tok
		return h
	}
	size := len(data)

	full := c.do("GET", url, nil, bearer(tok))
	etag := full.Header.Get("ETag")
	if full.Status != http.StatusOK || !bytes.Equal(full.Body, data) || etag == "" {
		t.Fatalf("GET: %d, equal %v, ETag %q", full.Status, bytes.Equal(full.Body, data), etag)
	}
	head := c.do("HEAD", url, nil, bearer(tok))
	if head.Status != http.StatusOK || len(head.Body) != 0 || head.Header.Get("Content-Length") != fmt.Sprint(size) {
		t.Fatalf("HEAD: %d, %d body bytes, Content-Length %q", head.Status, len(head.Body), head.Header.Get("Content-Length"))
	}
	for _, tc := range []struct {
		rng  string
		want []byte
	}{
		{"bytes=0-9", data[:10]},
		{"bytes=5242870-5242899", data[5242870:5242900]}, // across the part boundary
		// At least 1 MiB: sent from a connection of its own to S3 (s3.ConnRange, spliced).
		{"bytes=4000000-6999999", data[4000000:7000000]},
		{"bytes=-5", data[size-5:]},
		{fmt.Sprintf("bytes=%d-", size-100), data[size-100:]},
	} {
		r := c.do("GET", url, nil, with(map[string]string{"Range": tc.rng}))
		if r.Status != http.StatusPartialContent || !bytes.Equal(r.Body, tc.want) {
			t.Errorf("Range %s: %d, %d bytes, equal %v", tc.rng, r.Status, len(r.Body), bytes.Equal(r.Body, tc.want))
		}
	}
	r := c.do("GET", url, nil, with(map[string]string{"Range": "bytes=0-1,6000000-6000009,-2"}))
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Status != http.StatusPartialContent || mt != "multipart/byteranges" {
		t.Fatalf("multi-range: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	for _, want := range [][]byte{data[0:2], data[6000000:6000010], data[size-2:]} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("multi-range part: %v", err)
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, want) {
			t.Fatalf("multi-range part %q differs", p.Header.Get("Content-Range"))
		}
	}
	if r := c.do("GET", url, nil, with(map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)})); r.Status != http.StatusRequestedRangeNotSatisfiable ||
		r.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
		t.Errorf("past the end: %d, Content-Range %q", r.Status, r.Header.Get("Content-Range"))
	}
	if r := c.do("GET", url, nil, with(map[string]string{"If-None-Match": etag})); r.Status != http.StatusNotModified {
		t.Errorf("If-None-Match current: %d, want 304", r.Status)
	}
	if r := c.do("GET", url, nil, with(map[string]string{"Range": "bytes=0-9", "If-Range": `"stale"`})); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
		t.Errorf("If-Range stale: %d, want the whole file", r.Status)
	}
}
