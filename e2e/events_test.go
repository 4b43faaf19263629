package e2e_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWebhooksScriptedRun: a receiver that is down for the first deliveries and slow for
// others (so the nodes retry what it already took) gets every event of a scripted run on two
// file nodes exactly once after deduplication by webhook-id, each signed as Python's hmac
// verifies it; a failed change emits nothing; the admin command lists and deletes webhooks.
func TestWebhooksScriptedRun(t *testing.T) {
	s := startStack(t, stackOptions{FileNodes: 2, FilesEnv: eventsEnv(map[string]string{"COFFER_FILES_USER_QUOTA": "1M"})})
	rc := newHookReceiver(t, 3, 4)
	subID, secret := s.subscribe(rc.URL + "/coffer")
	other := newHookReceiver(t, 0, 0)
	s.subscribe(other.URL, "link.created")
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", rc.URL, "http://localhost:9/"} {
		if out, err := s.webhooksCLIEnv(map[string]string{"COFFER_FILES_OUTBOUND_ALLOW_LOCAL": "false"}, "create", "-url", u); err == nil || !strings.Contains(out, "refused address") {
			t.Errorf("webhooks create %s without local addresses allowed: %v %s", u, err, out)
		}
	}

	c := s.client()
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	f := c.upload(alice.Token, "report.txt", []byte("quarterly figures"))
	n1 := c.on(s.Files[1])
	if res := tusEventsJS(t, n1.files+"/v1/uploads/", alice.Token, "notes.txt", []byte("resumable notes")); res.Status != "done" {
		t.Fatalf("tus upload: %+v", res)
	}
	// A rolled-back upload (over the quota) emits nothing.
	expectProblem(t, "upload over quota", c.do("POST", c.files+"/v1/files?name=huge.bin", strings.NewReader(strings.Repeat("h", 2<<20)), bearer(alice.Token)),
		http.StatusRequestEntityTooLarge, "quota_exceeded")
	if r := n1.postJSONAuth(alice.Token, "/v1/files/"+f.ID+"/shares", map[string]string{"user_id": bob.ID}); r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("share: %d %s", r.Status, r.Body)
	}
	if r := c.do("POST", c.files+"/v1/files/"+f.ID+"/shares", strings.NewReader(`{"user_id":"`+alice.ID+`"}`), with(bob.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusNotFound {
		t.Fatalf("bob shared alice's file: %d", r.Status) // refused: no event
	}
	if r := c.do("DELETE", c.files+"/v1/files/"+f.ID+"/shares/"+bob.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("unshare: %d %s", r.Status, r.Body)
	}
	l, r := c.createLink(alice.Token, f.ID, map[string]any{"expires_in": 600})
	if r.Status != http.StatusCreated {
		t.Fatalf("link: %d %s", r.Status, r.Body)
	}
	if r := n1.do("GET", n1.files+l.URL, nil, nil); r.Status != http.StatusOK {
		t.Fatalf("link download: %d", r.Status)
	}
	if r := c.do("HEAD", c.files+l.URL, nil, nil); r.Status != http.StatusOK { // not a download
		t.Fatalf("link HEAD: %d", r.Status)
	}
	if r := c.do("DELETE", c.files+"/v1/files/"+f.ID+"/links/"+l.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d", r.Status)
	}
	if r := n1.do("DELETE", n1.files+"/v1/files/"+f.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := c.do("DELETE", c.files+"/v1/files/"+f.ID, nil, bearer(alice.Token)); r.Status != http.StatusNotFound {
		t.Fatalf("second delete: %d", r.Status) // no second file.deleted
	}

	want := []string{"file.deleted", "link.created", "link.downloaded", "link.revoked", "share.created", "share.revoked"}
	want = append(want, scriptedUploadEvents...)
	slices.Sort(want)
	var byID map[string]hookRequest
	var total int
	eventually(t, "every event delivered", func() (bool, string) {
		byID, total = rc.events()
		return len(byID) >= len(want), strings.Join(eventTypes(t, byID), ",")
	})
	if got := eventTypes(t, byID); !slices.Equal(got, want) {
		t.Fatalf("events after dedup = %v, want %v", got, want)
	}
	if total <= len(byID) {
		t.Logf("no duplicate was delivered (%d requests for %d events)", total, len(byID))
	}
	for _, r := range byID {
		if strings.Contains(r.Body, "huge.bin") {
			t.Errorf("the rolled-back upload emitted %s", r.Body)
		}
	}
	reqs := make([]hookRequest, 0, len(byID))
	for _, r := range byID {
		reqs = append(reqs, r)
		if strings.Contains(r.Body, strings.TrimPrefix(l.URL, "/v1/links/")) {
			t.Errorf("an event carries the link token: %s", r.Body)
		}
	}
	if n := verifySignaturesPython(t, secret, reqs); n != len(reqs) {
		t.Errorf("python verified %d of %d signatures", n, len(reqs))
	}
	eventually(t, "link.created to the second webhook", func() (bool, string) {
		got, _ := other.events()
		return len(got) == 1, strings.Join(eventTypes(t, got), ",")
	})

	out, err := s.webhooksCLI("list")
	if err != nil || !strings.Contains(out, subID) || strings.Contains(out, "whsec_") {
		t.Errorf("webhooks list: %v\n%s", err, out)
	}
	if out, err := s.webhooksCLI("delete", subID); err != nil {
		t.Errorf("webhooks delete: %v\n%s", err, out)
	}
	if out, _ := s.webhooksCLI("list"); strings.Contains(out, subID) {
		t.Errorf("deleted webhook still listed:\n%s", out)
	}
}

// scriptedUploadEvents are the events the scripted run's uploads emit: a direct and a
// resumable one.
var scriptedUploadEvents = []string{"file.created", "file.created"}

func (c *client) postJSONAuth(tok, path string, v any) response {
	c.t.Helper()
	b, _ := jsonBytes(v)
	return c.do("POST", c.files+path, strings.NewReader(string(b)), with(tok, map[string]string{"Content-Type": "application/json"}))
}

// TestWebhookAfterCrash: a file node killed (SIGKILL, by a crash point compiled in with
// -tags faultinject) right after an upload's commit, before it answered, still leads to the
// file.created delivery: the event and its job committed with the file, and another node
// delivers it.
func TestWebhookAfterCrash(t *testing.T) {
	bin := faultInjectFiles(t)
	s := startStack(t, stackOptions{FilesEnv: eventsEnv(nil)})
	rc := newHookReceiver(t, 0, 0)
	s.subscribe(rc.URL, "file.created")
	c := s.client()
	alice := c.signUp("alice")
	s.Files[0].Stop(20 * time.Second) // only the crashing node runs at first
	addr := freeAddr(t)
	node := startProc(t, "files-crashy", bin, addr, filesEnv(s, addr, t.TempDir(), eventsEnv(map[string]string{"COFFER_FILES_CRASH_POINT": "after-commit"})))
	waitReady(t, node, 30*time.Second)
	req, _ := http.NewRequest("POST", node.URL+"/v1/files?name=crash.txt", strings.NewReader("committed, then killed"))
	req.Header.Set("Authorization", "Bearer "+alice)
	if resp, err := c.http.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("upload answered %d; the crash point did not fire", resp.StatusCode)
	}
	select {
	case <-node.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("node still running after its crash point")
	}
	if n := s.queryInt(`SELECT count(*) FROM files WHERE name = 'crash.txt'`); n != 1 {
		t.Fatalf("%d committed rows, want 1", n)
	}
	s.StartFiles(eventsEnv(nil))
	eventually(t, "file.created of the upload whose node died", func() (bool, string) {
		got, _ := rc.events()
		for _, r := range got {
			if strings.Contains(r.Body, `"name":"crash.txt"`) {
				return true, ""
			}
		}
		return false, strings.Join(eventTypes(t, got), ",")
	})
}
