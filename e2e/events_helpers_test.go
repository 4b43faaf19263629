package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
)

// eventsEnv is what a file node needs to deliver webhooks to the tests' loopback receivers
// quickly: local addresses allowed, short timeouts and retries.
func eventsEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"COFFER_FILES_OUTBOUND_ALLOW_LOCAL": "true",
		"COFFER_FILES_WEBHOOK_TIMEOUT":      "1s",
		"COFFER_FILES_WEBHOOK_RETRY_BASE":   "200ms",
		"COFFER_FILES_WEBHOOK_RETRY_MAX":    "1s",
		"COFFER_FILES_QUEUE_RESCUE_AFTER":   "12s",
		"COFFER_FILES_LINK_KEY":             newLinkKey(),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// hookRequest is one request a webhook receiver took (answered 2xx).
type hookRequest struct {
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Signature string `json:"signature"`
	Body      string `json:"body"`
}

// hookReceiver is a webhook endpoint that is down (503) for its first requests and slow
// (past the node's delivery timeout, so the node retries what it already took) for every
// slowEvery-th one.
type hookReceiver struct {
	*httptest.Server
	mu        sync.Mutex
	downFirst int
	slowEvery int
	seen      int
	took      []hookRequest
}

func newHookReceiver(t testing.TB, downFirst, slowEvery int) *hookReceiver {
	t.Helper()
	rc := &hookReceiver{downFirst: downFirst, slowEvery: slowEvery}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.seen++
	n := rc.seen
	rc.mu.Unlock()
	if n <= rc.downFirst {
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
		return
	}
	req := hookRequest{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"), Body: string(body)}
	rc.mu.Lock()
	rc.took = append(rc.took, req)
	rc.mu.Unlock()
	if rc.slowEvery > 0 && n%rc.slowEvery == 0 {
		time.Sleep(1500 * time.Millisecond) // the node gave up at 1s: it will send this again
	}
	w.WriteHeader(http.StatusNoContent)
}

// events returns the distinct events taken (deduplicated by webhook-id) by type, and how
// many requests were taken in all.
func (rc *hookReceiver) events() (byID map[string]hookRequest, total int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	byID = map[string]hookRequest{}
	for _, r := range rc.took {
		byID[r.ID] = r
	}
	return byID, len(rc.took)
}

// eventTypes returns the sorted types of the distinct events taken.
func eventTypes(t testing.TB, byID map[string]hookRequest) []string {
	t.Helper()
	var types []string
	for _, r := range byID {
		var e struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
			t.Fatalf("event body %q: %v", r.Body, err)
		}
		types = append(types, e.Type)
	}
	sort.Strings(types)
	return types
}

// webhooksCLI runs `coffer-files webhooks ARGS` against the stack's database.
func (s *stack) webhooksCLI(args ...string) (string, error) {
	s.t.Helper()
	return s.webhooksCLIEnv(nil, args...)
}

// webhooksCLIEnv is webhooksCLI with extra settings.
func (s *stack) webhooksCLIEnv(extra map[string]string, args ...string) (string, error) {
	s.t.Helper()
	env := map[string]string{
		"COFFER_FILES_DATABASE_URL":         s.fileDB,
		"COFFER_FILES_AUTH_URL":             s.Auth.URL,
		"COFFER_FILES_OUTBOUND_ALLOW_LOCAL": "true",
	}
	for k, v := range extra {
		env[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Files, append([]string{"webhooks"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, harness.Env(env)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// subscribe creates a webhook with the command and returns its secret.
func (s *stack) subscribe(url string, types ...string) (id, secret string) {
	s.t.Helper()
	args := []string{"create", "-url", url}
	if len(types) > 0 {
		args = append(args, "-events", strings.Join(types, ","))
	}
	out, err := s.webhooksCLI(args...)
	if err != nil {
		s.t.Fatalf("webhooks create: %v\n%s", err, out)
	}
	var sub struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &sub); err != nil || !strings.HasPrefix(sub.Secret, "whsec_") {
		s.t.Fatalf("webhooks create printed %q (%v)", out, err)
	}
	return sub.ID, sub.Secret
}

// verifySignaturesPython checks every request's signature with Python's hmac module (an
// implementation nobody here wrote), as a receiver following Standard Webhooks would, and
// returns how many were valid.
func verifySignaturesPython(t testing.TB, secret string, reqs []hookRequest) int {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is required for this test: %v", err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "requests.json")
	b, _ := json.Marshal(reqs)
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	const script = `
import base64, hashlib, hmac, json, sys, time
secret, path = sys.argv[1], sys.argv[2]
key = base64.b64decode(secret[len("whsec_"):])
ok = 0
for r in json.load(open(path)):
    if abs(time.time() - int(r["timestamp"])) > 300:
        continue
    signed = (r["id"] + "." + r["timestamp"] + ".").encode() + r["body"].encode()
    want = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    if any(hmac.compare_digest(want, s) for s in r["signature"].split(" ")):
        ok += 1
print(ok)
`
	out, err := exec.Command(py, "-c", script, secret, in).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	var n int
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &n); err != nil {
		t.Fatalf("python3 printed %q", out)
	}
	return n
}
