package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// opsStack is a stack configured the way docker-compose.yml and the Kubernetes manifests
// configure it: auth's issuer is its public URL (http://localhost:PORT) while the file node
// reaches auth over another, internal address (http://127.0.0.1:PORT) for the JWK Set and
// still requires the public issuer; both services serve /metrics on a listener of their own.
type opsStack struct {
	*stack
	publicAuth, internalAuth string
	publicFiles              string
	authMetrics, fileMetrics string
}

func startOpsStack(t *testing.T, authEnv map[string]string) opsStack {
	t.Helper()
	authAddr := freeAddr(t)
	_, port, _ := net.SplitHostPort(authAddr)
	o := opsStack{
		publicAuth:   "http://localhost:" + port,
		internalAuth: "http://" + authAddr,
		authMetrics:  freeAddr(t),
		fileMetrics:  freeAddr(t),
	}
	filesAddr := freeAddr(t)
	_, filesPort, _ := net.SplitHostPort(filesAddr)
	o.publicFiles = "http://localhost:" + filesPort
	ae := map[string]string{
		"COFFER_AUTH_ADDR":         authAddr,
		"COFFER_AUTH_ISSUER":       o.publicAuth,
		"COFFER_AUTH_METRICS_ADDR": o.authMetrics,
	}
	for k, v := range authEnv {
		ae[k] = v
	}
	o.stack = startStack(t, stackOptions{
		AuthEnv: ae,
		FilesEnv: map[string]string{
			"COFFER_FILES_ADDR":         filesAddr,
			"COFFER_FILES_AUTH_URL":     o.internalAuth,
			"COFFER_FILES_JWKS_URL":     o.internalAuth + "/.well-known/jwks.json",
			"COFFER_FILES_ISSUER":       o.publicAuth,
			"COFFER_FILES_PUBLIC_URL":   o.publicFiles,
			"COFFER_FILES_METRICS_ADDR": o.fileMetrics,
			"COFFER_FILES_LINK_KEY":     newLinkKey(),
		},
	})
	return o
}

// TestOpsPublicIssuer: a token from auth (issuer = public URL) is accepted by a file node
// that fetched the keys over the internal address; a node that expects the internal address
// as issuer refuses it; a third party that knows only the public URL finds discovery there,
// with that issuer and a jwks_uri under it, and verifies the token with go-jose.
func TestOpsPublicIssuer(t *testing.T) {
	o := startOpsStack(t, nil)
	c := o.client()
	alice := c.newUser("alice", "")

	if r := c.do("GET", c.files+"/v1/files", nil, with(alice.Token, nil)); r.Status != http.StatusOK {
		t.Fatalf("list on the compose-like node: %d %s", r.Status, r.Body)
	}
	strict := o.StartFiles(map[string]string{"COFFER_FILES_ISSUER": o.internalAuth})
	if r := c.do("GET", strict.URL+"/v1/files", nil, with(alice.Token, nil)); r.Status != http.StatusUnauthorized {
		t.Fatalf("a node requiring the internal address as issuer answered %d, want 401", r.Status)
	}

	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
		Token   string `json:"token_endpoint"`
	}
	r := c.do("GET", o.publicAuth+"/.well-known/openid-configuration", nil, nil)
	if err := json.Unmarshal(r.Body, &doc); r.Status != http.StatusOK || err != nil {
		t.Fatalf("discovery from the public URL: %d %s", r.Status, r.Body)
	}
	if doc.Issuer != o.publicAuth || doc.JWKSURI != o.publicAuth+"/.well-known/jwks.json" || !strings.HasPrefix(doc.Token, o.publicAuth+"/") {
		t.Fatalf("discovery %+v, want everything under %s", doc, o.publicAuth)
	}
	set, _ := fetchJWKS(t, doc.JWKSURI)
	claims, err := verifyWithJose(set, alice.Token, doc.Issuer, "coffer-files")
	if err != nil {
		t.Fatalf("a third party verifying from the public discovery document: %v", err)
	}
	if claims.Subject != alice.ID {
		t.Fatalf("sub = %q, want %q", claims.Subject, alice.ID)
	}
	if _, err := verifyWithJose(set, alice.Token, o.internalAuth, "coffer-files"); err == nil {
		t.Fatal("the token verified with the internal address as issuer")
	}
}

// TestOpsMetrics: after traffic, both services' /metrics (on their own listeners, not the
// public port) show the request, upload, token, JWKS, login, key, pool and runtime metrics
// moving, and no label holds a link token, a file or user id, a bearer token (or a part of
// one), a username or a password.
func TestOpsMetrics(t *testing.T) {
	// One failed login per username and address, so the second is throttled.
	o := startOpsStack(t, map[string]string{"COFFER_AUTH_LOGIN_PAIR_ATTEMPTS": "1"})
	c := o.client()
	alice := c.newUser("alice", "")
	data := bytes.Repeat([]byte("metrics "), 4096)
	f := c.upload(alice.Token, "numbers.csv", data)
	if r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, with(alice.Token, nil)); r.Status != http.StatusOK || len(r.Body) != len(data) {
		t.Fatalf("download: %d, %d bytes", r.Status, len(r.Body))
	}
	l, r := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 3600})
	if r.Status != http.StatusCreated || !strings.HasPrefix(l.URL, o.publicFiles+"/v1/links/") {
		t.Fatalf("create link: %d %s (want a URL under the public URL %s)", r.Status, r.Body, o.publicFiles)
	}
	linkToken := strings.TrimPrefix(l.URL, o.publicFiles+"/v1/links/")
	if r := c.do("GET", l.URL, nil, nil); r.Status != http.StatusOK {
		t.Fatalf("link download: %d", r.Status)
	}
	c.do("GET", c.files+"/v1/links/"+linkToken+"x", nil, nil)
	c.do("GET", c.files+"/v1/files", nil, nil) // no token
	parts := strings.Split(alice.Token, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	c.do("GET", c.files+"/v1/files", nil, with(forged, nil))          // bad signature
	c.do("GET", c.files+"/v1/files", nil, with(alice.Token+"x", nil)) // malformed
	shareOnly := c.loginScope("alice", "pw-alice-long-enough", "files:share")
	c.do("GET", c.files+"/v1/files/"+f.ID, nil, with(shareOnly, nil)) // no files:read
	if r := c.do("POST", c.files+"/v1/files?name=x", strings.NewReader("x"), nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("upload without a token: %d", r.Status)
	}
	for i, want := range []int{http.StatusUnauthorized, http.StatusTooManyRequests} {
		if r := c.postJSON(c.auth+"/v1/login", map[string]string{"username": "alice", "password": "wrong-password"}); r.Status != want {
			t.Fatalf("failed login %d: %d, want %d", i+1, r.Status, want)
		}
	}

	if r := c.do("GET", c.files+"/metrics", nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("GET /metrics on the public port of files: %d, want 404", r.Status)
	}
	if r := c.do("GET", c.auth+"/metrics", nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("GET /metrics on the public port of auth: %d, want 404", r.Status)
	}

	files := scrapeMetrics(t, "http://"+o.fileMetrics+"/metrics")
	auth := scrapeMetrics(t, "http://"+o.authMetrics+"/metrics")
	for _, m := range []struct {
		set    map[string]float64
		series string
		min    float64
	}{
		{files, `coffer_files_http_requests_total{code="201",method="POST",route="/v1/files"}`, 1},
		{files, `coffer_files_http_requests_total{code="200",method="GET",route="/v1/files/:id/content"}`, 1},
		{files, `coffer_files_http_requests_total{code="200",method="GET",route="/v1/links/:token"}`, 1},
		{files, `coffer_files_http_requests_total{code="404",method="GET",route="/v1/links/:token"}`, 1},
		{files, `coffer_files_http_request_duration_seconds_count{method="POST",route="/v1/files"}`, 1},
		{files, `coffer_files_http_requests_in_flight{method="POST",route="/v1/files"}`, 0},
		{files, `coffer_files_http_request_body_bytes_total{route="/v1/files"}`, float64(len(data))},
		{files, `coffer_files_http_response_body_bytes_total{route="/v1/files/:id/content"}`, float64(len(data))},
		{files, `coffer_files_http_response_body_bytes_total{route="/v1/links/:token"}`, float64(len(data))},
		{files, `coffer_files_uploads_total{outcome="ok"}`, 1},
		{files, `coffer_files_uploads_total{outcome="unauthorized"}`, 1},
		{files, `coffer_files_token_rejections_total{reason="missing"}`, 1},
		{files, `coffer_files_token_rejections_total{reason="bad_signature"}`, 1},
		{files, `coffer_files_token_rejections_total{reason="malformed"}`, 1},
		{files, `coffer_files_token_rejections_total{reason="insufficient_scope"}`, 1},
		{files, `coffer_files_jwks_fetches_total{outcome="ok"}`, 1},
		{files, `coffer_files_jwks_age_seconds`, 0},
		{files, `coffer_files_jwks_keys`, 1},
		{files, `coffer_files_db_pool_acquires_total`, 1},
		{files, `go_goroutines`, 1},
		{files, `process_resident_memory_bytes`, 1},
		{auth, `coffer_auth_http_requests_total{code="200",method="POST",route="/v1/login"}`, 1},
		{auth, `coffer_auth_http_requests_total{code="200",method="GET",route="/.well-known/jwks.json"}`, 1},
		{auth, `coffer_auth_logins_total{outcome="ok"}`, 2},
		{auth, `coffer_auth_logins_total{outcome="invalid_credentials"}`, 1},
		{auth, `coffer_auth_logins_total{outcome="too_many_attempts"}`, 1},
		{auth, `coffer_auth_keys_published{state="active"}`, 1},
		{auth, `coffer_auth_active_key_age_seconds`, 0},
		{auth, `coffer_auth_db_pool_acquires_total`, 1},
		{auth, `go_goroutines`, 1},
	} {
		got, ok := m.set[m.series]
		if !ok || got < m.min {
			t.Errorf("%s = %v (present %v), want at least %v", m.series, got, ok, m.min)
			for k, v := range m.set {
				if strings.HasPrefix(k, m.series[:strings.IndexAny(m.series+"{", "{")]) {
					t.Logf("  have %s %v", k, v)
				}
			}
		}
	}
	for name, set := range map[string]map[string]float64{"files": files, "auth": auth} {
		for series := range set {
			secrets := []string{linkToken, f.ID, alice.ID, "alice", "wrong-password", forged, shareOnly}
			for _, tok := range []string{alice.Token, shareOnly} {
				secrets = append(secrets, strings.Split(tok, ".")...)
			}
			for _, secret := range secrets {
				if strings.Contains(series, secret) {
					t.Errorf("%s metrics label a secret or an id: %s", name, series)
				}
			}
		}
	}
}

// scrapeMetrics reads a Prometheus text exposition into series → value.
func scrapeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d", url, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
