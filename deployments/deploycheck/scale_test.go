package deploycheck_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	corev1 "k8s.io/api/core/v1"
)

// TestComposeReplicaURLs: every file node takes COFFER_FILES_DATABASE_REPLICA_URLS from the
// environment (empty by default: reads on the primary).
func TestComposeReplicaURLs(t *testing.T) {
	const replicas = "postgres://coffer:coffer@replica-1:5432/coffer,postgres://coffer:coffer@replica-2:5432/coffer"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"COFFER_FILES_DATABASE_REPLICA_URLS": replicas}, replicas},
	} {
		opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yml")},
			cli.WithWorkingDirectory(repoRoot), cli.WithName("coffer"), cli.WithEnv(envList(tc.env)))
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.LoadProject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"files-1", "files-2"} {
			s := p.Services[name]
			if _, ok := s.Environment["COFFER_FILES_DATABASE_REPLICA_URLS"]; !ok {
				t.Errorf("%s does not pass COFFER_FILES_DATABASE_REPLICA_URLS", name)
			}
			if got := env(t, s, "COFFER_FILES_DATABASE_REPLICA_URLS"); got != tc.want {
				t.Errorf("%s: COFFER_FILES_DATABASE_REPLICA_URLS = %q, want %q", name, got, tc.want)
			}
		}
	}
}

func envList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// TestKubernetesReplicaWiring: in every overlay the file nodes take the direct URL and the
// replica URLs from the coffer-db Secret, as optional keys (README: PostgreSQL with replicas).
func TestKubernetesReplicaWiring(t *testing.T) {
	want := map[string]string{
		"COFFER_FILES_DATABASE_URL":          "files-url",
		"COFFER_FILES_DATABASE_DIRECT_URL":   "files-direct-url",
		"COFFER_FILES_DATABASE_REPLICA_URLS": "files-replica-urls",
	}
	for _, dir := range kustomizations {
		m := render(t, dir)
		d := m.deployments["coffer-files"]
		if d == nil {
			t.Fatalf("%s: no coffer-files Deployment", dir)
		}
		got := map[string]*corev1.SecretKeySelector{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				got[e.Name] = e.ValueFrom.SecretKeyRef
			}
		}
		for name, key := range want {
			ref := got[name]
			switch {
			case ref == nil:
				t.Errorf("%s: coffer-files does not take %s from a Secret", dir, name)
			case ref.Name != "coffer-db" || ref.Key != key:
				t.Errorf("%s: %s from %s/%s, want coffer-db/%s", dir, name, ref.Name, ref.Key, key)
			case name != "COFFER_FILES_DATABASE_URL" && (ref.Optional == nil || !*ref.Optional):
				t.Errorf("%s: %s must be optional (a cluster without replicas has no such key)", dir, name)
			}
		}
	}
}
