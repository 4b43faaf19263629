package e2e_test

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// resume finishes an upload the way a tus client does: ask the offset, send the rest, repeat
// (a request interrupted by another one answers an error and is retried).
func (tc *tusClient) resume(nodes []string, path string, data []byte) {
	tc.c.t.Helper()
	for i := 0; ; i++ {
		node := nodes[i%len(nodes)]
		off := tc.offset(node, path)
		if off < 0 {
			tc.c.t.Fatalf("HEAD %s: %d", path, -off)
		}
		if off == int64(len(data)) {
			return
		}
		if i > 10 {
			tc.c.t.Fatalf("upload stuck at %d of %d", off, len(data))
		}
		tc.patch(node, path, off, data[off:], "-")
	}
}

// patchPipe starts a PATCH at offset whose body the test writes; the response arrives on the
// returned channel (status, or -1 when the connection failed).
func (tc *tusClient) patchPipe(node, path string, offset, length int64) (*io.PipeWriter, <-chan int) {
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PATCH", node+path, pr)
	if err != nil {
		tc.c.t.Fatal(err)
	}
	req.ContentLength = length
	for k, v := range tusHeaders(tc.tok, map[string]string{"Upload-Offset": strconv.FormatInt(offset, 10), "Content-Type": "application/offset+octet-stream"}) {
		req.Header.Set(k, v)
	}
	done := make(chan int, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
		if err != nil {
			pr.CloseWithError(err)
			done <- -1
			return
		}
		resp.Body.Close()
		pr.CloseWithError(io.ErrClosedPipe)
		done <- resp.StatusCode
	}()
	return pw, done
}

// TestTusConcurrentPatches: two PATCHes of one upload at once, through two nodes, on disk and
// on S3: the second asks the first (holding the lock in PostgreSQL) to let go; the first keeps
// what it received, the second finds the offset moved (409). However the race goes, the
// finished file is byte-identical with the right SHA-256: bytes never interleave.
func TestTusConcurrentPatches(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			s := startStack(t, stackOptions{FileNodes: 2, FilesEnv: b.env})
			c := s.client()
			alice := c.newUser("alice", "")
			nodes := []string{s.Files[0].URL, s.Files[1].URL}
			data := make([]byte, 12<<20+777)
			rand.Read(data)
			tc := c.tus(alice.Token)
			path, r := tc.create(nodes[0], int64(len(data)), "race.bin", nil)
			if r.Status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.Status, r.Body)
			}

			// The first PATCH sends 6 MiB and then stalls, holding the lock.
			w, first := tc.patchPipe(nodes[0], path, 0, int64(len(data)))
			if _, err := w.Write(data[:6<<20]); err != nil {
				t.Fatal(err)
			}
			// This upload's lock, not any advisory lock (the collector's, another test's):
			// postgres.DB.LockUpload's key is the XOR of the id's halves, a bigint that
			// pg_locks shows as classid (high 32 bits) and objid (low), objsubid 1.
			id, err := hex.DecodeString(strings.ReplaceAll(path[len("/v1/uploads/"):], "-", ""))
			if err != nil || len(id) != 16 {
				t.Fatalf("upload path %q", path)
			}
			key := binary.BigEndian.Uint64(id[:8]) ^ binary.BigEndian.Uint64(id[8:])
			waitFor(t, 30*time.Second, "the first PATCH to hold the upload's lock", func() bool {
				// This upload's lease row (COFFER_FILES_UPLOAD_LOCK=lease, the default) or its
				// advisory lock (=advisory).
				return s.queryInt(`SELECT (SELECT count(*) FROM file_upload_leases WHERE upload_id = $3::uuid) +
					(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
					AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
					AND objsubid = 1 AND classid::bigint = $1 AND objid::bigint = $2)`,
					int64(key>>32), int64(key&0xffffffff), path[len("/v1/uploads/"):]) == 1
			})
			// The second, through the other node, takes over.
			second := tc.patch(nodes[1], path, 0, data, "-")
			go w.Write(data[6<<20:]) // whatever the first connection still accepts
			st := <-first
			w.Close()
			kept := tc.offset(nodes[1], path)
			t.Logf("first PATCH: %d, second: %d, offset after both: %d", st, second.Status, kept)
			switch {
			case st == http.StatusNoContent:
				t.Fatalf("the interrupted PATCH claims success")
			case second.Status == http.StatusNoContent && kept != int64(len(data)):
				t.Fatalf("second PATCH succeeded but the offset is %d", kept)
			case second.Status != http.StatusNoContent && second.Status != http.StatusConflict:
				t.Fatalf("second PATCH: %d %s", second.Status, second.Body)
			case kept > 6<<20 && kept != int64(len(data)):
				t.Fatalf("offset %d beyond what the first PATCH sent", kept)
			}
			tc.resume(nodes, path, data)
			c.checkFile(t, alice.Token, path[len("/v1/uploads/"):], data)
		})
	}
}

// TestTusNodeKilledMidPatch: a node killed -9 in the middle of a PATCH loses at most the bytes
// it had not acknowledged: the offset another node reports is at least what was acknowledged,
// and the upload finishes byte-identical through it.
func TestTusNodeKilledMidPatch(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			s := startStack(t, stackOptions{FilesEnv: b.env})
			victim := s.startKillableFiles(b.env)
			c := s.client()
			alice := c.newUser("alice", "")
			data := make([]byte, 9<<20+99)
			rand.Read(data)
			tc := c.tus(alice.Token)
			path, r := tc.create(victim.URL, int64(len(data)), "killed.bin", nil)
			if r.Status != http.StatusCreated {
				t.Fatalf("create: %d", r.Status)
			}
			acked := int64(3<<20 + 1)
			if r := tc.patch(victim.URL, path, 0, data[:acked], ""); r.Status != http.StatusNoContent {
				t.Fatalf("PATCH: %d", r.Status)
			}
			w, done := tc.patchPipe(victim.URL, path, acked, int64(len(data))-acked)
			if _, err := w.Write(data[acked : acked+4<<20]); err != nil {
				t.Fatal(err)
			}
			if err := victim.Kill(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			if st := <-done; st == http.StatusNoContent {
				t.Fatal("a PATCH cut by a kill claims success")
			}
			other := []string{s.Files[0].URL}
			var off int64
			waitFor(t, 30*time.Second, "the killed node's lock to go", func() bool {
				off = tc.offset(other[0], path)
				return off >= 0
			})
			if off < acked {
				t.Fatalf("offset %d after the kill, but %d bytes were acknowledged", off, acked)
			}
			tc.resume(other, path, data)
			c.checkFile(t, alice.Token, path[len("/v1/uploads/"):], data)
		})
	}
}

// TestTusExpiry: an abandoned upload is announced to expire (Upload-Expires) and, once it has,
// the collector removes its bytes, its row and its quota reservation; the URL answers 404.
func TestTusExpiry(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			env := map[string]string{"COFFER_FILES_UPLOAD_EXPIRY": "2s", "COFFER_FILES_GC_INTERVAL": "200ms", "COFFER_FILES_USER_QUOTA": "100M"}
			for k, v := range b.env {
				env[k] = v
			}
			s := startStack(t, stackOptions{FilesEnv: env})
			c := s.client()
			alice := c.newUser("alice", "")
			n := s.Files[0].URL
			tc := c.tus(alice.Token)
			path, r := tc.create(n, 8<<20, "abandoned.bin", nil)
			if r.Status != http.StatusCreated {
				t.Fatalf("create: %d", r.Status)
			}
			exp, err := http.ParseTime(r.Header.Get("Upload-Expires"))
			if err != nil || exp.After(time.Now().Add(5*time.Second)) {
				t.Fatalf("Upload-Expires %q", r.Header.Get("Upload-Expires"))
			}
			if r := tc.patch(n, path, 0, make([]byte, 6<<20), ""); r.Status != http.StatusNoContent {
				t.Fatalf("PATCH: %d", r.Status)
			}
			if s.queryInt(`SELECT count(*) FROM file_quota_reservations`) != 1 || b.incomplete(t)+b.blobs(t) == 0 {
				t.Fatal("the upload holds no reservation or no bytes")
			}
			waitFor(t, 60*time.Second, "the expired upload to be collected", func() bool {
				return s.queryInt(`SELECT count(*) FROM file_uploads`) == 0
			})
			if got := s.queryInt(`SELECT count(*) FROM file_quota_reservations`); got != 0 {
				t.Fatalf("%d reservations left", got)
			}
			if inc, blobs := b.incomplete(t), b.blobs(t); inc != 0 || blobs != 0 {
				t.Fatalf("bytes left: %d incomplete, %d blobs/objects", inc, blobs)
			}
			if off := tc.offset(n, path); off != -404 {
				t.Fatalf("HEAD after expiry: %d", off)
			}
		})
	}
}

// TestTusParallelUploadsMemoryBounded: eight tus uploads at once, each in several PATCHes,
// leave the file node's peak resident set within the bound of direct uploads (64 MiB plus
// 1 MiB per stream): a PATCH streams through a fixed buffer, whatever its size.
func TestTusParallelUploadsMemoryBounded(t *testing.T) {
	const streams, size, chunk = 8, 24 << 20, 8 << 20
	s := startStack(t, stackOptions{})
	c := s.client()
	alice := c.newUser("loader", "")
	tc := c.tus(alice.Token)
	n := s.Files[0].URL
	pid := s.Files[0].Pid()
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		path, r := tc.create(n, size, fmt.Sprintf("load-%d.bin", i), nil)
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d", r.Status)
		}
		wg.Go(func() {
			for off := int64(0); off < size; off += chunk {
				req, _ := http.NewRequest("PATCH", n+path, io.LimitReader(zeros{}, chunk))
				req.ContentLength = chunk
				for k, v := range tusHeaders(alice.Token, map[string]string{"Upload-Offset": strconv.FormatInt(off, 10), "Content-Type": "application/offset+octet-stream"}) {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					errs <- fmt.Errorf("PATCH %s at %d: %d", path, off, resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := c.listCount(alice.Token); got != streams {
		t.Fatalf("%d files listed, want %d", got, streams)
	}
	hwm := procStatusKB(t, pid, "VmHWM")
	limit := int64(64<<10 + streams<<10) // KiB
	t.Logf("file node peak RSS after %d parallel %d MiB tus uploads: %d KiB (limit %d KiB)", streams, size>>20, hwm, limit)
	if hwm > limit {
		t.Fatalf("peak RSS %d KiB exceeds %d KiB", hwm, limit)
	}
}

// TestTusCrashBetweenBlobAndCommit: a node that dies after an upload's last byte is durable
// and its blob complete, but before the file row (a crash point, -tags faultinject), shows no
// file; the client's next request, through any node, finds the upload complete and finishes
// it, and the file appears byte-identical with the upload's id.
func TestTusCrashBetweenBlobAndCommit(t *testing.T) {
	bin := faultInjectFiles(t)
	dir := t.TempDir()
	s := startStack(t, stackOptions{FilesEnv: map[string]string{"COFFER_FILES_DATA_DIR": dir}})
	c := s.client()
	alice := c.newUser("alice", "")
	addr := freeAddr(t)
	crashy := startProc(t, "files-crashy", bin, addr, filesEnv(s, addr, dir, map[string]string{"COFFER_FILES_CRASH_POINT": "tus-after-blob"}))
	waitReady(t, crashy, 30*time.Second)
	data := make([]byte, 2<<20+3)
	rand.Read(data)
	tc := c.tus(alice.Token)
	path, r := tc.create(crashy.URL, int64(len(data)), "crash.bin", nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d", r.Status)
	}
	w, done := tc.patchPipe(crashy.URL, path, 0, int64(len(data)))
	w.Write(data)
	w.Close()
	if st := <-done; st != -1 {
		t.Fatalf("the last PATCH answered %d; the crash point did not fire", st)
	}
	select {
	case <-crashy.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("node still running after its crash point")
	}
	if n := c.listCount(alice.Token); n != 0 {
		t.Fatalf("%d files visible before the row was written", n)
	}
	rr := tc.head(s.Files[0].URL, path)
	id := path[len("/v1/uploads/"):]
	if rr.Status != http.StatusOK || rr.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) || rr.Header.Get("Coffer-File-Id") != id {
		t.Fatalf("HEAD after the crash: %d %v", rr.Status, rr.Header)
	}
	c.checkFile(t, alice.Token, id, data)
}
