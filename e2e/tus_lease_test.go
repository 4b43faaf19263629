package e2e_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestTusLeasesNeedNoSessions: 500 resumable uploads at once through one node whose pools
// have at most 20 connections (main) and 5 (direct) complete, each a file: an upload's lock
// is a lease row, not a held session.
func TestTusLeasesNeedNoSessions(t *testing.T) {
	s := startStack(t, stackOptions{})
	node := s.StartFiles(map[string]string{
		"COFFER_FILES_DATABASE_URL":        pooled(s.fileDB) + "&pool_max_conns=20",
		"COFFER_FILES_DATABASE_DIRECT_URL": s.fileDB + "&pool_max_conns=5",
		"COFFER_FILES_GC_INTERVAL":         "0",
	})
	c := s.client()
	alice := c.newUser("alice", "")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 500, MaxConnsPerHost: 500}, Timeout: 3 * time.Minute}
	body := bytes.Repeat([]byte("l"), 1024)
	const n = 500
	before := s.fileRows()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tusUpload(client, node.URL, alice.Token, body); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 3 {
			t.Errorf("upload: %v", err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d uploads failed", failed, n)
	}
	if got := s.fileRows() - before; got != n {
		t.Errorf("%d files after %d uploads", got, n)
	}
	if left := s.queryInt(`SELECT count(*) FROM file_upload_leases`); left != 0 {
		t.Errorf("%d leases left after every upload finished", left)
	}
}

// TestTusLeaseOfKilledNode: a node killed -9 while a PATCH holds an upload's lease lets go
// within the lease time (1s here): the row's expiry is at most that far off, and the upload
// then continues through another node.
func TestTusLeaseOfKilledNode(t *testing.T) {
	const lease = time.Second
	env := map[string]string{"COFFER_FILES_UPLOAD_LEASE": lease.String()}
	s := startStack(t, stackOptions{FilesEnv: env})
	victim := s.startKillableFiles(env)
	c := s.client()
	alice := c.newUser("alice", "")
	data := make([]byte, 3<<20+5)
	rand.Read(data)
	tc := c.tus(alice.Token)
	path, r := tc.create(victim.URL, int64(len(data)), "leased.bin", nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d", r.Status)
	}
	w, done := tc.patchPipe(victim.URL, path, 0, int64(len(data)))
	if _, err := w.Write(data[:1<<20]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the PATCH to hold the lease", func() bool {
		return s.queryInt(`SELECT count(*) FROM file_upload_leases`) == 1
	})
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	w.Close()
	<-done
	// Nobody renews it now: it ends within one lease of the kill.
	if ms := s.queryInt(`SELECT coalesce(max(ceil(extract(epoch FROM expires_at - now()) * 1000)), 0)::bigint FROM file_upload_leases`); time.Duration(ms)*time.Millisecond > lease {
		t.Errorf("the lease runs %dms past the kill, longer than the lease time %v", ms, lease)
	}
	other := s.Files[0].URL
	var off int64
	waitFor(t, 30*time.Second, "the killed node's lease to go", func() bool {
		off = tc.offset(other, path)
		return off >= 0
	})
	t.Logf("offset %d readable through another node %v after the kill", off, time.Since(killed).Round(time.Millisecond))
	tc.resume([]string{other}, path, data)
	c.checkFile(t, alice.Token, path[len("/v1/uploads/"):], data)
}
