package deploycheck_test

import (
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const repoRoot = "../.."

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot), cli.WithName("coffer"), cli.WithEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func env(t *testing.T, s types.ServiceConfig, key string) string {
	t.Helper()
	v, ok := s.Environment[key]
	if !ok || v == nil {
		return ""
	}
	return *v
}

// published returns the host port that publishes container port target.
func published(t *testing.T, s types.ServiceConfig, target uint32) string {
	t.Helper()
	for _, p := range s.Ports {
		if p.Target == target {
			return p.Published
		}
	}
	t.Fatalf("%s publishes no port for %d", s.Name, target)
	return ""
}

func containerPort(t *testing.T, s types.ServiceConfig, addrKey string) uint32 {
	t.Helper()
	addr := env(t, s, addrKey)
	_, port, ok := strings.Cut(addr, ":")
	n, err := strconv.Atoi(port)
	if !ok || err != nil {
		t.Fatalf("%s: %s = %q, want :PORT", s.Name, addrKey, addr)
	}
	return uint32(n)
}

// TestCompose: the services, their healthchecks and start order, the public issuer, and two
// file nodes on their own ports sharing one store and one link key, and the web page with its
// registered OAuth client.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	want := []string{"auth", "files-1", "files-2", "postgres", "s3", "web", "web-client"}
	for _, name := range want {
		if _, ok := p.Services[name]; !ok {
			t.Fatalf("service %s missing; have %v", name, p.ServiceNames())
		}
	}
	documented := documentedEnv(t)
	for name, s := range p.Services {
		for k := range s.Environment {
			if strings.HasPrefix(k, "COFFER_") && !documented[k] {
				t.Errorf("%s sets %s, which the README's configuration table does not list", name, k)
			}
		}
		if name == "web-client" {
			continue // a one-shot job: the web page waits for it to complete instead
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	needs := func(name string, deps ...string) {
		s := p.Services[name]
		for _, d := range deps {
			if dep, ok := s.DependsOn[d]; !ok || dep.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s must wait for %s to be healthy (depends_on %v)", name, d, s.DependsOn)
			}
		}
	}
	needs("auth", "postgres")
	needs("files-1", "postgres", "auth", "s3")
	needs("files-2", "postgres", "auth", "s3")
	needs("web-client", "postgres", "auth")
	needs("web", "auth", "files-1")
	if dep, ok := p.Services["web"].DependsOn["web-client"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("web must wait for web-client to complete (depends_on %v)", p.Services["web"].DependsOn)
	}

	// Auth: the issuer is the published URL, and its secret comes from a compose secret.
	auth := p.Services["auth"]
	authPort := containerPort(t, auth, "COFFER_AUTH_ADDR")
	issuer := "http://localhost:" + published(t, auth, authPort)
	if got := env(t, auth, "COFFER_AUTH_ISSUER"); got != issuer || issuer != "http://localhost:8081" {
		t.Errorf("COFFER_AUTH_ISSUER = %q, want the published URL %q (http://localhost:8081)", got, issuer)
	}
	checkReadyz(t, auth, authPort)
	checkSecretFile(t, p, auth, "COFFER_AUTH_KEK")

	// File nodes: ports 8082 and 8083, public issuer, JWKS over the internal address.
	var stores []string
	for i, name := range []string{"files-1", "files-2"} {
		s := p.Services[name]
		port := containerPort(t, s, "COFFER_FILES_ADDR")
		pub := published(t, s, port)
		if want := strconv.Itoa(8082 + i); pub != want {
			t.Errorf("%s is published on %s, want %s", name, pub, want)
		}
		if got := env(t, s, "COFFER_FILES_PUBLIC_URL"); got != "http://localhost:"+pub {
			t.Errorf("%s: COFFER_FILES_PUBLIC_URL = %q, want http://localhost:%s", name, got, pub)
		}
		if got := env(t, s, "COFFER_FILES_ISSUER"); got != issuer {
			t.Errorf("%s: COFFER_FILES_ISSUER = %q, want auth's issuer %q", name, got, issuer)
		}
		jwks, err := url.Parse(env(t, s, "COFFER_FILES_JWKS_URL"))
		if err != nil || jwks.Hostname() != "auth" || jwks.Port() != strconv.Itoa(int(authPort)) || jwks.Path != "/.well-known/jwks.json" {
			t.Errorf("%s: COFFER_FILES_JWKS_URL = %q, want auth's internal address http://auth:%d/.well-known/jwks.json", name, jwks, authPort)
		}
		checkReadyz(t, s, port)
		checkSecretFile(t, p, s, "COFFER_FILES_LINK_KEY")
		stores = append(stores, storeOf(t, p, s))
	}
	if stores[0] != stores[1] {
		t.Errorf("file nodes use different stores: %q and %q", stores[0], stores[1])
	}

	// The web page: on 8084, naming auth's issuer and the first file node as the browser
	// reaches them; every file node lets its origin call the API.
	web := p.Services["web"]
	webPort := containerPort(t, web, "COFFER_WEB_ADDR")
	webPub := published(t, web, webPort)
	if webPub != "8084" {
		t.Errorf("web is published on %s, want 8084", webPub)
	}
	origin := "http://localhost:" + webPub
	checkReadyz(t, web, webPort)
	if got := env(t, web, "COFFER_WEB_AUTH_URL"); got != issuer {
		t.Errorf("COFFER_WEB_AUTH_URL = %q, want auth's issuer %q", got, issuer)
	}
	if got, want := env(t, web, "COFFER_WEB_FILES_URL"), env(t, p.Services["files-1"], "COFFER_FILES_PUBLIC_URL"); got != want {
		t.Errorf("COFFER_WEB_FILES_URL = %q, want files-1's public URL %q", got, want)
	}
	for _, name := range []string{"files-1", "files-2"} {
		origins := strings.Split(env(t, p.Services[name], "COFFER_FILES_CORS_ORIGINS"), ",")
		if !slices.Contains(origins, origin) {
			t.Errorf("%s: COFFER_FILES_CORS_ORIGINS = %v, want it to include the web origin %s", name, origins, origin)
		}
	}
	// The client registration: the page's id, public, its callback and origin, and the admin
	// role, so an admin's tokens through the page carry it (the page's admin section).
	reg := p.Services["web-client"]
	script := strings.Join(append(append([]string{}, reg.Entrypoint...), reg.Command...), " ")
	clientID := env(t, web, "COFFER_WEB_CLIENT_ID")
	for _, want := range []string{"clients create " + clientID + " ", "--public", "--redirect-uri " + origin + "/callback", "--origin " + origin, "--admin-role", "client exists"} {
		if clientID == "" || !strings.Contains(script, want) {
			t.Errorf("web-client command %q lacks %q", script, want)
		}
	}
	if reg.Restart != "no" {
		t.Errorf("web-client restart = %q, want no (a one-shot job)", reg.Restart)
	}
}

// storeOf describes where a file node keeps blobs, so two nodes can be compared: an S3 bucket
// on a server the project runs, or a named volume.
func storeOf(t *testing.T, p *types.Project, s types.ServiceConfig) string {
	t.Helper()
	switch env(t, s, "COFFER_FILES_STORAGE") {
	case "s3":
		u, err := url.Parse(env(t, s, "COFFER_FILES_S3_ENDPOINT"))
		if err != nil {
			t.Fatalf("%s: COFFER_FILES_S3_ENDPOINT: %v", s.Name, err)
		}
		if _, ok := p.Services[u.Hostname()]; !ok {
			t.Errorf("%s: S3 endpoint %s is not a service of the project", s.Name, u)
		}
		return "s3 " + u.Host + " " + env(t, s, "COFFER_FILES_S3_BUCKET") + " " + env(t, s, "COFFER_FILES_S3_PREFIX")
	case "", "disk":
		dir := env(t, s, "COFFER_FILES_DATA_DIR")
		for _, v := range s.Volumes {
			if v.Target == dir && v.Type == types.VolumeTypeVolume {
				return "volume " + v.Source
			}
		}
		t.Errorf("%s: data folder %q is not on a named volume", s.Name, dir)
		return s.Name
	}
	t.Fatalf("%s: unknown storage", s.Name)
	return ""
}

// checkReadyz: the healthcheck asks the service's own /readyz.
func checkReadyz(t *testing.T, s types.ServiceConfig, port uint32) {
	t.Helper()
	test := strings.Join(s.HealthCheck.Test, " ")
	if !strings.Contains(test, ":"+strconv.Itoa(int(port))+"/readyz") {
		t.Errorf("%s healthcheck %q does not ask /readyz on port %d", s.Name, test, port)
	}
}

// checkSecretFile: key is read from a mounted compose secret (key_FILE), never set inline.
func checkSecretFile(t *testing.T, p *types.Project, s types.ServiceConfig, key string) {
	t.Helper()
	if env(t, s, key) != "" {
		t.Errorf("%s: %s is set inline; use %s_FILE and a secret", s.Name, key, key)
	}
	file := env(t, s, key+"_FILE")
	name, ok := strings.CutPrefix(file, "/run/secrets/")
	if !ok {
		t.Errorf("%s: %s_FILE = %q, want /run/secrets/NAME", s.Name, key, file)
		return
	}
	if _, ok := p.Secrets[name]; !ok {
		t.Errorf("%s: secret %s is not declared", s.Name, name)
	}
	if !slices.ContainsFunc(s.Secrets, func(c types.ServiceSecretConfig) bool { return c.Source == name }) {
		t.Errorf("%s does not mount secret %s", s.Name, name)
	}
}
