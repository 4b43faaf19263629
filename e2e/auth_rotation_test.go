package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKeyRotationUnderLoad rotates signing keys every few seconds while clients keep getting
// fresh tokens and using them on a real file node: no request may fail. A token signed by
// the first key keeps working while that key is retired but published, and gets 401 once the
// key has left the JWKS and the file node has refreshed.
//
// Margins, in file-node JWKS refresh intervals (R = 1 s, the least allowed), so a busy machine
// cannot flake it: a new key is published 2×JWKS max-age + reload = 6.25 s > 6 R before it
// signs, so the node has six chances to fetch it before the first token signed by it arrives;
// a retired key stays published for access TTL + key leeway + reload = 3.25 s > 3 R after it
// stops signing, longer than any token signed by it takes to reach the node here.
func TestKeyRotationUnderLoad(t *testing.T) {
	s := startStack(t, stackOptions{
		AuthEnv: map[string]string{
			"COFFER_AUTH_KEY_ROTATION":     "8s",
			"COFFER_AUTH_JWKS_MAX_AGE":     "3s",
			"COFFER_AUTH_KEY_RELOAD":       "250ms",
			"COFFER_AUTH_ACCESS_TOKEN_TTL": "2s",
			"COFFER_AUTH_KEY_LEEWAY":       "1s",
		},
		FilesEnv: map[string]string{
			"COFFER_FILES_JWKS_REFRESH": "1s",
			// A long verifier leeway: the old token's exp does not reject it, so only the
			// key's removal from the JWKS can.
			"COFFER_FILES_CLOCK_LEEWAY": "5m",
		},
	})
	secret := s.createClient("load-gen", "files:read")
	hc := &http.Client{Timeout: 10 * time.Second}
	getToken := func() (string, error) {
		req, _ := http.NewRequest("POST", s.Auth.URL+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("load-gen", secret)
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("token: %d %s", resp.StatusCode, body)
		}
		tok, _, _ := strings.Cut(strings.TrimPrefix(string(body), `{"access_token":"`), `"`)
		return tok, nil
	}
	list := func(tok string) (int, error) {
		req, _ := http.NewRequest("GET", s.Files[0].URL+"/v1/files", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	old, err := getToken()
	if err != nil {
		t.Fatal(err)
	}
	oldKID := kidOf(t, old)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var requests, failures atomic.Int64
	var mu sync.Mutex
	var firstFailure string
	kids := map[string]bool{}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				tok, err := getToken()
				status := 0
				if err == nil {
					status, err = list(tok)
				}
				requests.Add(1)
				mu.Lock()
				if err != nil || status != http.StatusOK {
					failures.Add(1)
					if firstFailure == "" {
						firstFailure = fmt.Sprintf("status %d, err %v", status, err)
					}
				} else {
					kids[kidOf(t, tok)] = true
				}
				mu.Unlock()
			}
		}()
	}
	seenKIDs := func() int { mu.Lock(); defer mu.Unlock(); return len(kids) }

	// Phase 1: the first key is replaced; while it is retired but still published, its
	// token still works.
	waitFor(t, 30*time.Second, "a second signing key", func() bool { return seenKIDs() >= 2 })
	if status, err := list(old); err != nil || status != http.StatusOK {
		t.Fatalf("token of the just-retired key: %d %v, want 200 (retired keys stay published)", status, err)
	}

	// Phase 2: the first key leaves the JWKS; after the file node refreshes, its token is 401.
	waitFor(t, 30*time.Second, "the first key to leave the JWKS", func() bool {
		_, body := fetchJWKS(t, s.Auth.URL+"/.well-known/jwks.json")
		return !strings.Contains(string(body), oldKID)
	})
	waitFor(t, 30*time.Second, "the retired key's token to be refused", func() bool {
		status, err := list(old)
		return err == nil && status == http.StatusUnauthorized
	})
	// Keep the load up through one more rotation.
	waitFor(t, 30*time.Second, "a third signing key", func() bool { return seenKIDs() >= 3 })
	stop()
	wg.Wait()

	t.Logf("%d requests across %d signing keys, %d failed", requests.Load(), seenKIDs(), failures.Load())
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed during rotation; first: %s", failures.Load(), requests.Load(), firstFailure)
	}
	if requests.Load() < 20 {
		t.Fatalf("only %d requests: the load did not run", requests.Load())
	}
	if out := s.admin("", "keys", "list"); !strings.Contains(out, "active") {
		t.Fatalf("keys list:\n%s", out)
	}
}
