package e2e_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLoginAbuseAcrossReplicas (SECURITY.md section G): unknown user and wrong password get
// the same answer; failures spread over two auth processes add up to one per-account limit,
// answered with 429 and Retry-After by either process; a 1 MB password is refused at once.
func TestLoginAbuseAcrossReplicas(t *testing.T) {
	env := map[string]string{"COFFER_AUTH_LOGIN_ACCOUNT_ATTEMPTS": "4", "COFFER_AUTH_LOGIN_WINDOW": "1m"}
	s := startStack(t, stackOptions{AuthEnv: env})
	second := s.StartAuth(env)
	c := s.client()
	c.signUp("victim")
	login := func(base, user, pw string) response {
		return c.postJSON(base+"/v1/login", map[string]string{"username": user, "password": pw})
	}

	unknown := login(s.Auth.URL, "no-such-user", "some-password")
	wrong := login(second.URL, "victim", "some-password")
	if unknown.Status != http.StatusUnauthorized || wrong.Status != unknown.Status || !bytes.Equal(unknown.Body, wrong.Body) {
		t.Fatalf("unknown user %d %s vs wrong password %d %s", unknown.Status, unknown.Body, wrong.Status, wrong.Body)
	}

	big := strings.Repeat("p", 1<<20)
	start := time.Now()
	r := login(s.Auth.URL, "victim", big)
	if r.Status != http.StatusRequestEntityTooLarge && r.Status != http.StatusUnauthorized {
		t.Fatalf("1 MB password: %d %s", r.Status, r.Body)
	}
	t.Logf("1 MB password refused with %d in %v", r.Status, time.Since(start))

	// Two more failures on the first process, one on the second: four in all.
	login(s.Auth.URL, "victim", "guess-1-guess")
	login(s.Auth.URL, "victim", "guess-2-guess")
	login(second.URL, "victim", "guess-3-guess")
	for _, base := range []string{s.Auth.URL, second.URL} {
		r := login(base, "victim", "pw-victim-long-enough") // the right password, still throttled
		if r.Status != http.StatusTooManyRequests || r.problemCode(t) != "too_many_attempts" {
			t.Fatalf("after 4 failures, %s answers %d %s", base, r.Status, r.Body)
		}
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60 {
			t.Fatalf("Retry-After %q, want 1..60 seconds", r.Header.Get("Retry-After"))
		}
	}
	// Another account is not affected by the victim's block.
	c.signUp("bystander")
}
