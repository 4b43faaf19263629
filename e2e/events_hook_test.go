package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// policyHook is a pre-create hook: it refuses names that start with "blocked" (422 and a
// message), answers names that start with "slow" after the node's timeout, and lets the rest
// through. It records what it was asked.
type policyHook struct {
	*httptest.Server
	mu    sync.Mutex
	calls []map[string]any
	// dir is the node's data folder: while the hook is deciding, not one byte of the upload
	// may be in it (a temporary file would mean the bytes were stored before the hook said yes).
	dir   string
	early []string
}

func newPolicyHook(t *testing.T, dir string) *policyHook {
	h := &policyHook{dir: dir}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.Type != "upload.pre_create" ||
			r.Header.Get("webhook-id") == "" || !strings.HasPrefix(r.Header.Get("webhook-signature"), "v1,") {
			t.Errorf("hook request %q (%v) headers %v", body, err, r.Header)
		}
		blobs, temps := blobFiles(h.dir)
		h.mu.Lock()
		h.calls = append(h.calls, m.Data)
		h.early = append(h.early, temps...)
		if len(blobs) > 0 && len(h.calls) <= 3 {
			h.early = append(h.early, blobs...)
		}
		h.mu.Unlock()
		name, _ := m.Data["name"].(string)
		switch {
		case strings.HasPrefix(name, "blocked"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"message":"files named blocked* are not allowed here"}`)
		case strings.HasPrefix(name, "slow"):
			time.Sleep(2 * time.Second)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *policyHook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

// TestPreCreateHook: the hook refuses an upload before any byte reaches the blob store (the
// data folder is unchanged, no row, no upload) by direct POST and by tus creation, with 403
// rejected_by_policy and the hook's own message; tus-js-client stops without retrying; a hook
// that times out refuses (fail closed); an allowed upload is told the owner, name, size and
// type.
func TestPreCreateHook(t *testing.T) {
	dir := t.TempDir()
	hook := newPolicyHook(t, dir)
	s := startStack(t, stackOptions{FilesEnv: eventsEnv(map[string]string{
		"COFFER_FILES_DATA_DIR":                dir,
		"COFFER_FILES_HOOK_PRE_CREATE_URL":     hook.URL + "/pre-create",
		"COFFER_FILES_HOOK_SECRET":             "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"COFFER_FILES_HOOK_PRE_CREATE_TIMEOUT": "1s",
	})})
	c := s.client()
	alice := c.newUser("alice", "")
	dataDir := dir
	before, _ := blobFiles(dataDir)

	big := bytes.Repeat([]byte("x"), 4<<20)
	r := c.do("POST", c.files+"/v1/files?name=blocked.bin", bytes.NewReader(big), bearer(alice.Token))
	expectProblem(t, "direct upload refused by the hook", r, http.StatusForbidden, "rejected_by_policy")
	if !strings.Contains(string(r.Body), "files named blocked* are not allowed here") {
		t.Errorf("refusal does not carry the hook's message: %s", r.Body)
	}
	res := tusEventsJS(t, c.files+"/v1/uploads/", alice.Token, "blocked-tus.bin", big)
	if res.Status != "error" || res.HTTPStatus != http.StatusForbidden || !strings.Contains(res.Body, "rejected_by_policy") {
		t.Fatalf("tus-js-client: %+v, want a 403 rejected_by_policy", res)
	}
	if res.Requests != 1 {
		t.Errorf("tus-js-client sent %d requests, want 1: a refusal must stop its retries", res.Requests)
	}
	r = c.do("POST", c.files+"/v1/files?name=slow.bin", bytes.NewReader(big), bearer(alice.Token))
	expectProblem(t, "upload while the hook times out", r, http.StatusForbidden, "rejected_by_policy")

	blobs, temps := blobFiles(dataDir)
	if len(blobs) != len(before) || len(temps) != 0 {
		t.Errorf("data folder after refusals: blobs %v temps %v, want %v and none", blobs, temps, before)
	}
	if n := s.queryInt(`SELECT (SELECT count(*) FROM files) + (SELECT count(*) FROM file_uploads)`); n != 0 {
		t.Errorf("%d rows after refused uploads, want 0", n)
	}
	if len(hook.early) > 0 {
		t.Errorf("bytes were stored before the hook answered: %v", hook.early)
	}
	if n := hook.count(); n != 3 {
		t.Errorf("hook called %d times, want 3", n)
	}

	ok := c.upload(alice.Token, "fine.txt", []byte("hello"))
	res = tusEventsJS(t, c.files+"/v1/uploads/", alice.Token, "fine-tus.bin", []byte("hello tus"))
	if res.Status != "done" || ok.ID == "" {
		t.Fatalf("allowed uploads: %+v", res)
	}
	hook.mu.Lock()
	last := hook.calls[len(hook.calls)-1]
	first := hook.calls[len(hook.calls)-2]
	hook.mu.Unlock()
	if first["owner_id"] != alice.ID || first["name"] != "fine.txt" || first["size"] != float64(5) || first["upload"] != "direct" {
		t.Errorf("hook was told %v", first)
	}
	if last["name"] != "fine-tus.bin" || last["size"] != float64(9) || last["upload"] != "resumable" {
		t.Errorf("hook was told %v", last)
	}
}
