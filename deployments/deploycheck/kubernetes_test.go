package deploycheck_test

import (
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// manifests is one rendered kustomization, decoded into the Kubernetes API types.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	jobs        map[string]*batchv1.Job
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap // by rendered name (with kustomize's hash suffix)
	secrets     map[string]*corev1.Secret
	accounts    map[string]*corev1.ServiceAccount
	pdbs        map[string]*policyv1.PodDisruptionBudget
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	policies    map[string]*networkingv1.NetworkPolicy
	ingresses   map[string]*networkingv1.Ingress
}

var kustomizations = []string{"base", "overlays/dev", "overlays/prod"}

// render builds dir with kustomize and decodes every object strictly: a field the API type
// does not have (a typo, a wrong indentation) fails the test.
func render(t *testing.T, dir string) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, "deployments/kubernetes", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := manifests{
		deployments: map[string]*appsv1.Deployment{}, jobs: map[string]*batchv1.Job{},
		services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, accounts: map[string]*corev1.ServiceAccount{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		policies: map[string]*networkingv1.NetworkPolicy{}, ingresses: map[string]*networkingv1.Ingress{},
	}
	for _, r := range rm.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		name := r.GetName()
		var obj any
		switch gvk := r.GetGvk(); gvk.Group + "/" + gvk.Version + "/" + gvk.Kind {
		case "apps/v1/Deployment":
			o := &appsv1.Deployment{}
			m.deployments[name], obj = o, o
		case "batch/v1/Job":
			o := &batchv1.Job{}
			m.jobs[name], obj = o, o
		case "/v1/Service":
			o := &corev1.Service{}
			m.services[name], obj = o, o
		case "/v1/ConfigMap":
			o := &corev1.ConfigMap{}
			m.configMaps[name], obj = o, o
		case "/v1/Secret":
			o := &corev1.Secret{}
			m.secrets[name], obj = o, o
		case "/v1/ServiceAccount":
			o := &corev1.ServiceAccount{}
			m.accounts[name], obj = o, o
		case "policy/v1/PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			m.pdbs[name], obj = o, o
		case "autoscaling/v2/HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			m.hpas[name], obj = o, o
		case "networking.k8s.io/v1/NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			m.policies[name], obj = o, o
		case "networking.k8s.io/v1/Ingress":
			o := &networkingv1.Ingress{}
			m.ingresses[name], obj = o, o
		default:
			t.Fatalf("%s: %s %s has no check here; add its type", dir, gvk, name)
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s: %s %s does not decode strictly: %v\n%s", dir, r.GetKind(), name, err, b)
		}
	}
	return m
}

func TestKubernetes(t *testing.T) {
	documented := documentedEnv(t)
	for _, dir := range kustomizations {
		t.Run(strings.ReplaceAll(dir, "/", "_"), func(t *testing.T) {
			m := render(t, dir)
			for _, name := range []string{"coffer-auth", "coffer-files", "coffer-web"} {
				if m.deployments[name] == nil || m.services[name] == nil || m.pdbs[name] == nil || m.policies[name] == nil {
					t.Fatalf("%s needs a Deployment, Service, PodDisruptionBudget and NetworkPolicy", name)
				}
			}
			if len(m.jobs) == 0 {
				t.Error("no migration Job")
			}
			if len(m.ingresses) == 0 {
				t.Error("no Ingress")
			}
			for name, d := range m.deployments {
				checkPod(t, "Deployment "+name, d.Spec.Template.Spec, true)
				checkEnvDocumented(t, documented, "Deployment "+name, d.Spec.Template.Spec)
			}
			for name, j := range m.jobs {
				checkPod(t, "Job "+name, j.Spec.Template.Spec, false)
				checkEnvDocumented(t, documented, "Job "+name, j.Spec.Template.Spec)
				if c := j.Spec.Template.Spec.Containers[0]; !slices.Equal(c.Args, []string{"migrate"}) {
					t.Errorf("Job %s runs %v, want migrate", name, c.Args)
				}
			}
			checkAuth(t, m)
			checkFiles(t, m)
			checkPublicURL(t, m, dir)
			checkWeb(t, m, dir)
			for name, pdb := range m.pdbs {
				if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
					t.Errorf("PodDisruptionBudget %s allows nothing", name)
				}
			}
			for _, name := range []string{"coffer-auth", "coffer-files"} {
				checkMetricsPolicy(t, m, name)
			}
		})
	}
}

// checkPod: non-root, read-only root filesystem, no capabilities, requests and limits, and
// for services probes on /healthz and /readyz and a grace period longer than their drain.
func checkPod(t *testing.T, what string, pod corev1.PodSpec, service bool) {
	t.Helper()
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext must set runAsNonRoot and a non-zero runAsUser", what)
	} else if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile must be RuntimeDefault", what)
	}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		w := what + " container " + c.Name
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", w)
			continue
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem must be true", w)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation must be false", w)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities must drop ALL and add none", w)
		}
		r := c.Resources
		if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
			t.Errorf("%s: needs cpu and memory requests and a memory limit, have %v", w, r)
		}
		if r.Limits.Memory().Cmp(*r.Requests.Memory()) < 0 {
			t.Errorf("%s: memory limit below its request", w)
		}
	}
	if !service {
		return
	}
	for _, c := range pod.Containers {
		w := what + " container " + c.Name
		if !strings.HasPrefix(c.Image, "coffer-") && !strings.Contains(c.Image, "/coffer-") {
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				t.Errorf("%s: needs readiness and liveness probes", w)
			}
			continue
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: readinessProbe must GET /readyz", w)
		}
		if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
			t.Errorf("%s: livenessProbe must GET /healthz", w)
		}
		drain := envDuration(t, c, "_DRAIN_DELAY", 0) + envDuration(t, c, "_SHUTDOWN_TIMEOUT", 30*time.Second)
		grace := 30 * time.Second // Kubernetes' default
		if g := pod.TerminationGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		if grace <= drain {
			t.Errorf("%s: terminationGracePeriodSeconds %v must exceed drain delay + shutdown timeout (%v)", w, grace, drain)
		}
	}
}

// envDuration reads the container's COFFER_*suffix duration, or def.
func envDuration(t *testing.T, c corev1.Container, suffix string, def time.Duration) time.Duration {
	t.Helper()
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "COFFER_") && strings.HasSuffix(e.Name, suffix) {
			d, err := time.ParseDuration(e.Value)
			if err != nil {
				t.Fatalf("%s: %s = %q: %v", c.Name, e.Name, e.Value, err)
			}
			return d
		}
	}
	return def
}

// envOf resolves an environment variable of a Deployment's first container: a literal value
// or a key of a rendered ConfigMap.
func (m manifests) envOf(t *testing.T, deployment, key string) string {
	t.Helper()
	c := m.deployments[deployment].Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		if e.Name != key {
			continue
		}
		if e.ValueFrom == nil {
			return e.Value
		}
		if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
			for _, cm := range m.configMaps {
				if cm.Name == ref.Name {
					return cm.Data[ref.Key]
				}
			}
			t.Fatalf("%s: %s names ConfigMap %s, which is not rendered", deployment, key, ref.Name)
		}
		t.Fatalf("%s: %s is not a literal or a ConfigMap key", deployment, key)
	}
	return ""
}

func checkAuth(t *testing.T, m manifests) {
	t.Helper()
	d := m.deployments["coffer-auth"]
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("coffer-auth replicas = %v, want at least 2", d.Spec.Replicas)
	}
	checkMetricsPort(t, m, "coffer-auth", "COFFER_AUTH_METRICS_ADDR")
}

func checkFiles(t *testing.T, m manifests) {
	t.Helper()
	d := m.deployments["coffer-files"]
	hpa := m.hpas["coffer-files"]
	if hpa == nil || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != "coffer-files" {
		t.Fatalf("no HorizontalPodAutoscaler scales coffer-files")
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("coffer-files autoscales %v..%d, want at least 2 replicas", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if d.Spec.Replicas != nil {
		t.Errorf("coffer-files sets replicas; the autoscaler owns that")
	}
	if got := m.envOf(t, "coffer-files", "COFFER_FILES_STORAGE"); got != "s3" {
		t.Errorf("coffer-files storage %q: replicas must share blobs through s3", got)
	}
	checkMetricsPort(t, m, "coffer-files", "COFFER_FILES_METRICS_ADDR")
}

// checkPublicURL: auth's issuer, the file nodes' required issuer, the base of link URLs and
// the Ingress host all come from one public URL, while the JWK Set is fetched from auth's
// in-cluster Service.
func checkPublicURL(t *testing.T, m manifests, dir string) {
	t.Helper()
	issuer := m.envOf(t, "coffer-auth", "COFFER_AUTH_ISSUER")
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.HasSuffix(u.Host, ".svc") || strings.HasPrefix(u.Host, "coffer-auth") {
		t.Fatalf("COFFER_AUTH_ISSUER = %q, want a public http(s) URL", issuer)
	}
	if dir == "overlays/prod" && u.Scheme != "https" {
		t.Errorf("prod issuer %q is not https", issuer)
	}
	for _, key := range []string{"COFFER_FILES_ISSUER", "COFFER_FILES_PUBLIC_URL"} {
		if got := m.envOf(t, "coffer-files", key); got != issuer {
			t.Errorf("%s = %q, want the public URL %q", key, got, issuer)
		}
	}
	svc := m.services["coffer-auth"]
	jwks, err := url.Parse(m.envOf(t, "coffer-files", "COFFER_FILES_JWKS_URL"))
	if err != nil || jwks.Hostname() != svc.Name || jwks.Port() != strconv.Itoa(int(svc.Spec.Ports[0].Port)) || jwks.Path != "/.well-known/jwks.json" {
		t.Errorf("COFFER_FILES_JWKS_URL = %q, want auth's Service http://%s:%d/.well-known/jwks.json", jwks, svc.Name, svc.Spec.Ports[0].Port)
	}
	web, err := url.Parse(m.envOf(t, "coffer-files", "COFFER_FILES_CORS_ORIGINS"))
	if err != nil || web.Host == "" {
		t.Fatalf("COFFER_FILES_CORS_ORIGINS = %q, want the web page's origin", web)
	}
	for name, ing := range m.ingresses {
		for _, r := range ing.Spec.Rules {
			// The web page's rule has the page's host; every other rule the public URL's.
			want := u.Hostname()
			if backends(r) == "coffer-web" {
				want = web.Hostname()
			}
			if r.Host != want {
				t.Errorf("Ingress %s host %q (to %s), want %q", name, r.Host, backends(r), want)
			}
		}
		for _, tls := range ing.Spec.TLS {
			if !slices.Equal(tls.Hosts, []string{u.Hostname(), web.Hostname()}) {
				t.Errorf("Ingress %s TLS hosts %v, want [%s %s]", name, tls.Hosts, u.Hostname(), web.Hostname())
			}
		}
	}
}

// backends lists the Services an Ingress rule sends to, sorted and space-separated.
func backends(r networkingv1.IngressRule) string {
	var names []string
	if r.HTTP != nil {
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil && !slices.Contains(names, p.Backend.Service.Name) {
				names = append(names, p.Backend.Service.Name)
			}
		}
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

// checkWeb: the web page names the public URL for auth and the file API, its origin (its own
// Ingress host, TLS in prod) is the file nodes' CORS origin, the Ingress sends tus uploads to
// the file nodes, and its NetworkPolicy admits only the ingress controller and lets it reach
// nothing.
func checkWeb(t *testing.T, m manifests, dir string) {
	t.Helper()
	issuer := m.envOf(t, "coffer-auth", "COFFER_AUTH_ISSUER")
	for _, key := range []string{"COFFER_WEB_AUTH_URL", "COFFER_WEB_FILES_URL"} {
		if got := m.envOf(t, "coffer-web", key); got != issuer {
			t.Errorf("%s = %q, want the public URL %q", key, got, issuer)
		}
	}
	origins := strings.Split(m.envOf(t, "coffer-files", "COFFER_FILES_CORS_ORIGINS"), ",")
	web, err := url.Parse(origins[0])
	if err != nil || web.Path != "" || web.Host == "" || web.Host == mustHost(t, issuer) {
		t.Errorf("COFFER_FILES_CORS_ORIGINS = %v, want the web page's own origin first", origins)
	}
	if dir == "overlays/prod" && web.Scheme != "https" {
		t.Errorf("prod web origin %q is not https", web)
	}
	routed, uploads := false, false
	for _, ing := range m.ingresses {
		for _, r := range ing.Spec.Rules {
			if r.Host == web.Hostname() && backends(r) == "coffer-web" {
				routed = true
			}
			for _, p := range r.HTTP.Paths {
				if p.Path == "/v1/uploads" && p.Backend.Service != nil && p.Backend.Service.Name == "coffer-files" {
					uploads = true
				}
			}
		}
	}
	if !routed {
		t.Errorf("no Ingress rule sends host %s to coffer-web", web.Hostname())
	}
	if !uploads {
		t.Error("no Ingress path sends /v1/uploads (tus) to coffer-files")
	}
	p := m.policies["coffer-web"]
	if !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || len(p.Spec.Egress) != 0 {
		t.Errorf("NetworkPolicy coffer-web must restrict ingress and allow no egress: %+v", p.Spec)
	}
	for _, rule := range p.Spec.Ingress {
		for _, from := range rule.From {
			if from.PodSelector != nil || from.IPBlock != nil || from.NamespaceSelector == nil ||
				from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "ingress-nginx" {
				t.Errorf("NetworkPolicy coffer-web admits %v; only the ingress controller may reach the page", from)
			}
		}
		if len(rule.From) == 0 || len(rule.Ports) != 1 || rule.Ports[0].Port.String() != "http" {
			t.Errorf("NetworkPolicy coffer-web has a rule open to every peer or to a port other than http")
		}
	}
	if len(p.Spec.Ingress) == 0 {
		t.Error("NetworkPolicy coffer-web admits nobody; the ingress controller must reach the page")
	}
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// checkMetricsPort: the metrics listener is a container port of its own, and no Service
// publishes it.
func checkMetricsPort(t *testing.T, m manifests, name, key string) {
	t.Helper()
	addr := m.envOf(t, name, key)
	_, port, _ := strings.Cut(addr, ":")
	c := m.deployments[name].Spec.Template.Spec.Containers[0]
	i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })
	if addr == "" || i < 0 || strconv.Itoa(int(c.Ports[i].ContainerPort)) != port {
		t.Fatalf("%s: %s = %q must match a container port named metrics", name, key, addr)
	}
	for _, p := range m.services[name].Spec.Ports {
		if p.TargetPort.String() == "metrics" || p.TargetPort.IntValue() == int(c.Ports[i].ContainerPort) {
			t.Errorf("Service %s publishes the metrics port", name)
		}
	}
}

// checkMetricsPolicy: the NetworkPolicy of name lets only the monitoring namespace reach
// the metrics port, and lets no namespace-wide peer reach anything else but the ingress.
func checkMetricsPolicy(t *testing.T, m manifests, name string) {
	t.Helper()
	p := m.policies[name]
	if !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Fatalf("NetworkPolicy %s does not restrict ingress", name)
	}
	metricsAllowed := false
	for _, rule := range p.Spec.Ingress {
		if len(rule.From) == 0 || len(rule.Ports) == 0 {
			t.Errorf("NetworkPolicy %s has a rule open to every peer or port", name)
			continue
		}
		for _, port := range rule.Ports {
			for _, from := range rule.From {
				ns := ""
				if from.NamespaceSelector != nil {
					ns = from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
				}
				if from.IPBlock != nil {
					t.Errorf("NetworkPolicy %s admits an IP block", name)
				}
				switch {
				case port.Port.String() == "metrics" && ns != "monitoring":
					t.Errorf("NetworkPolicy %s lets %v reach metrics; only the monitoring namespace may", name, from)
				case port.Port.String() == "metrics":
					metricsAllowed = true
				case from.NamespaceSelector != nil && ns != "ingress-nginx":
					t.Errorf("NetworkPolicy %s lets namespace %q reach port %s; only the ingress may", name, ns, port.Port.String())
				}
			}
		}
	}
	if !metricsAllowed {
		t.Errorf("NetworkPolicy %s does not let the monitoring namespace scrape metrics", name)
	}
}

// checkEnvDocumented: every COFFER_ variable a manifest sets is in the README's table.
func checkEnvDocumented(t *testing.T, documented map[string]bool, what string, pod corev1.PodSpec) {
	t.Helper()
	for _, c := range pod.Containers {
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, "COFFER_") && !documented[e.Name] {
				t.Errorf("%s sets %s, which the README's configuration table does not list", what, e.Name)
			}
		}
	}
}
