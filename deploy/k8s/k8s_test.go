// Package k8s holds wxnotify's Kubernetes manifests (a kustomize base). Its
// test builds the base with kustomize's Go API, as `kubectl apply -k` would,
// and checks the result against what the programs really read: the
// variables in internal/config, their defaults, the ports they listen on,
// how long they take to shut down, and where their secrets may come from.
package k8s

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"wxnotify/internal/config"
	"wxnotify/internal/registry"
)

// secretName is the one Secret the Deployments may read, key by key.
const secretName = "wxnotify-secrets"

// program is what the manifests must agree with for one of wxnotify's programs.
type program struct {
	name       string // "api"
	deployment string // its Deployment's name
	container  string
	image      string // the image name the kustomization's images entries rewrite
	variables  []config.Variable
	listenVar  string // the variable holding its HTTP listen address
	service    bool   // behind a Service: needs a preStop pause to drain
	load       func(getenv func(string) string) error
}

var (
	api = program{
		name: "api", deployment: "wxnotify-api", container: "api", image: "wxnotify-api",
		variables: config.APIVariables(), listenVar: "HTTP_ADDR", service: true,
		load: func(getenv func(string) string) error { _, err := config.LoadAPI(getenv); return err },
	}
	worker = program{
		name: "worker", deployment: "wxnotify-worker", container: "worker", image: "wxnotify-worker",
		variables: config.WorkerVariables(), listenVar: "WORKER_HTTP_ADDR",
		load: func(getenv func(string) string) error { _, err := config.LoadWorker(getenv); return err },
	}
	programs = []program{api, worker}
)

// generated are the kustomization's configMapGenerators: each is emitted as
// name-<hash>, and every reference to it must be rewritten to that.
var generated = []string{"wxnotify-config", "wxnotify-api-config", "wxnotify-worker-config", "wxnotify-templates"}

// k8sRequired are variables optional for the programs whose default cannot
// work in a pod: 127.0.0.1 is the pod itself, which runs no Redis.
var k8sRequired = map[string]string{
	"REDIS_URL": "its default, redis://127.0.0.1:6379/0, is the pod itself",
	// The base serves one mini program from the variables (no APPS_FILE):
	// without these the programs refuse to start.
	"WECHAT_APPID":      "the base's one mini program",
	"WECHAT_APP_SECRET": "the base's one mini program",
	"API_KEYS":          "the base's order-service keys",
}

// ---- the objects, as far as the checks need them ----

type object struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   meta              `json:"metadata"`
	Data       map[string]string `json:"data,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`

	Deployment *deploymentSpec `json:"-"`
	Service    *serviceSpec    `json:"-"`
	HPA        *hpaSpec        `json:"-"`
	PDB        *pdbSpec        `json:"-"`
}

func (o *object) UnmarshalJSON(b []byte) error {
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   meta              `json:"metadata"`
		Data       map[string]string `json:"data"`
		StringData map[string]string `json:"stringData"`
		Spec       json.RawMessage   `json:"spec"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	*o = object{APIVersion: head.APIVersion, Kind: head.Kind, Metadata: head.Metadata, Data: head.Data, StringData: head.StringData}
	var spec any
	switch o.Kind {
	case "Deployment":
		o.Deployment = new(deploymentSpec)
		spec = o.Deployment
	case "Service":
		o.Service = new(serviceSpec)
		spec = o.Service
	case "HorizontalPodAutoscaler":
		o.HPA = new(hpaSpec)
		spec = o.HPA
	case "PodDisruptionBudget":
		o.PDB = new(pdbSpec)
		spec = o.PDB
	}
	if spec == nil || len(head.Spec) == 0 {
		return nil
	}
	if err := json.Unmarshal(head.Spec, spec); err != nil {
		return fmt.Errorf("%s %s: spec: %w", o.Kind, o.Metadata.Name, err)
	}
	return nil
}

func (o *object) String() string { return o.Kind + " " + o.Metadata.Name }

type meta struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []json.RawMessage `json:"matchExpressions"`
}

type deploymentSpec struct {
	Replicas *int32        `json:"replicas"`
	Selector labelSelector `json:"selector"`
	Template struct {
		Metadata meta    `json:"metadata"`
		Spec     podSpec `json:"spec"`
	} `json:"template"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64           `json:"terminationGracePeriodSeconds"`
	SecurityContext               *securityContext `json:"securityContext"`
	Containers                    []container      `json:"containers"`
	Volumes                       []volume         `json:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `json:"runAsNonRoot"`
	RunAsUser                *int64 `json:"runAsUser"`
	ReadOnlyRootFilesystem   *bool  `json:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `json:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `json:"drop"`
	} `json:"capabilities"`
}

type container struct {
	Name           string          `json:"name"`
	Image          string          `json:"image"`
	Ports          []containerPort `json:"ports"`
	Env            []envVar        `json:"env"`
	EnvFrom        []envFromSource `json:"envFrom"`
	VolumeMounts   []volumeMount   `json:"volumeMounts"`
	ReadinessProbe *probe          `json:"readinessProbe"`
	LivenessProbe  *probe          `json:"livenessProbe"`
	StartupProbe   *probe          `json:"startupProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int64 `json:"seconds"`
			} `json:"sleep"`
			Exec    json.RawMessage `json:"exec"`
			HTTPGet json.RawMessage `json:"httpGet"`
		} `json:"preStop"`
	} `json:"lifecycle"`
	Resources struct {
		Requests map[string]any `json:"requests"`
		Limits   map[string]any `json:"limits"`
	} `json:"resources"`
	SecurityContext *securityContext `json:"securityContext"`
}

type containerPort struct {
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
}

type envVar struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	ValueFrom *struct {
		SecretKeyRef     *keyRef         `json:"secretKeyRef"`
		ConfigMapKeyRef  *keyRef         `json:"configMapKeyRef"`
		FieldRef         json.RawMessage `json:"fieldRef"`
		ResourceFieldRef json.RawMessage `json:"resourceFieldRef"`
	} `json:"valueFrom"`
}

type keyRef struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional"`
}

type envFromSource struct {
	Prefix       string      `json:"prefix"`
	ConfigMapRef *envFromRef `json:"configMapRef"`
	SecretRef    *envFromRef `json:"secretRef"`
}

type envFromRef struct {
	Name     string `json:"name"`
	Optional *bool  `json:"optional"`
}

type volumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	SubPath   string `json:"subPath"`
}

type volume struct {
	Name      string `json:"name"`
	ConfigMap *struct {
		Name  string      `json:"name"`
		Items []keyToPath `json:"items"`
	} `json:"configMap"`
	Secret json.RawMessage `json:"secret"`
}

type keyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
}

type probe struct {
	HTTPGet *struct {
		Path string      `json:"path"`
		Port intOrString `json:"port"`
	} `json:"httpGet"`
	Exec      json.RawMessage `json:"exec"`
	TCPSocket json.RawMessage `json:"tcpSocket"`
	GRPC      json.RawMessage `json:"grpc"`
}

// intOrString is a port given by number or by name.
type intOrString struct {
	Int int
	Str string
}

func (p *intOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &p.Str)
	}
	return json.Unmarshal(b, &p.Int)
}

func (p intOrString) String() string {
	if p.Str != "" {
		return strconv.Quote(p.Str)
	}
	return strconv.Itoa(p.Int)
}

type serviceSpec struct {
	Type     string            `json:"type"`
	Selector map[string]string `json:"selector"`
	Ports    []struct {
		Name       string       `json:"name"`
		Port       int          `json:"port"`
		TargetPort *intOrString `json:"targetPort"`
	} `json:"ports"`
}

type hpaSpec struct {
	ScaleTargetRef struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Name       string `json:"name"`
	} `json:"scaleTargetRef"`
	MinReplicas *int32 `json:"minReplicas"`
	MaxReplicas int32  `json:"maxReplicas"`
	Metrics     []struct {
		Type     string `json:"type"`
		Resource *struct {
			Name   string `json:"name"`
			Target struct {
				Type string `json:"type"`
			} `json:"target"`
		} `json:"resource"`
	} `json:"metrics"`
}

type pdbSpec struct {
	MinAvailable   *intOrString   `json:"minAvailable"`
	MaxUnavailable *intOrString   `json:"maxUnavailable"`
	Selector       *labelSelector `json:"selector"`
}

// ---- building ----

// build is the output of `kustomize build deploy/k8s`, decoded, plus the
// example Secret's values (which stand in for the real Secret's).
type build struct {
	objects []*object
	secret  map[string]string // secret.example.yaml's keys and values
}

// rendered holds the kustomize output as JSON documents, built once: each
// test decodes its own copy, so the defect tests can change theirs.
var rendered = sync.OnceValues(func() ([][]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), ".")
	if err != nil {
		return nil, fmt.Errorf("kustomize build deploy/k8s: %w", err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		j, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		docs = append(docs, j)
	}
	y, err := os.ReadFile("secret.example.yaml")
	if err != nil {
		return nil, err
	}
	rn, err := kyaml.Parse(string(y))
	if err != nil {
		return nil, fmt.Errorf("secret.example.yaml: %w", err)
	}
	j, err := rn.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("secret.example.yaml: %w", err)
	}
	return append(docs, j), nil // the example Secret last
})

func loadBuild(t *testing.T) *build {
	t.Helper()
	docs, err := rendered()
	if err != nil {
		t.Fatal(err)
	}
	b := &build{}
	for _, d := range docs {
		o := new(object)
		if err := json.Unmarshal(d, o); err != nil {
			t.Fatal(err)
		}
		b.objects = append(b.objects, o)
	}
	example := b.objects[len(b.objects)-1]
	b.objects = b.objects[:len(b.objects)-1]
	if example.Kind != "Secret" || example.Metadata.Name != secretName {
		t.Fatalf("secret.example.yaml holds %s, want Secret %s", example, secretName)
	}
	b.secret = map[string]string{}
	for k, v := range example.Data {
		dec, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("secret.example.yaml: data.%s is not base64: %v", k, err)
		}
		b.secret[k] = string(dec)
	}
	for k, v := range example.StringData {
		b.secret[k] = v
	}
	return b
}

func (b *build) find(kind, name string) *object {
	for _, o := range b.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	return nil
}

func (b *build) configMap(name string) *object { return b.find("ConfigMap", name) }

// generatedName is the name the build gave the generator base, or "".
func (b *build) generatedName(base string) string {
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `-[a-z0-9]{10}$`)
	for _, o := range b.objects {
		if o.Kind == "ConfigMap" && re.MatchString(o.Metadata.Name) {
			return o.Metadata.Name
		}
	}
	return ""
}

func (b *build) pod(p program) (*deploymentSpec, *container) {
	o := b.find("Deployment", p.deployment)
	if o == nil {
		return nil, nil
	}
	for i := range o.Deployment.Template.Spec.Containers {
		if c := &o.Deployment.Template.Spec.Containers[i]; c.Name == p.container {
			return o.Deployment, c
		}
	}
	return o.Deployment, nil
}

// problems collects what is wrong, each said so that it can be fixed.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func report(t *testing.T, p problems) {
	t.Helper()
	for _, s := range p {
		t.Error(s)
	}
}

// ---- the environment a container gets ----

// source is one place a variable's value comes from.
type source struct {
	via      string // "value", "configMapKeyRef", "secretKeyRef", "envFrom configMapRef", "fieldRef", …
	ref, key string // the ConfigMap or Secret, and its key
	value    string
	known    bool // value is known from the manifests (or, for secretKeyRef, from secret.example.yaml)
	optional bool
}

func (s source) String() string {
	switch {
	case s.via == "value":
		return fmt.Sprintf("a literal value %q", s.value)
	case s.ref != "":
		return fmt.Sprintf("%s %s key %s", s.via, s.ref, s.key)
	}
	return s.via
}

// environment resolves a container's env and envFrom as the kubelet would:
// env over envFrom, later over earlier. all keeps every source of each
// variable, including those overridden.
type environment struct {
	all       map[string][]source
	effective map[string]source
}

func (b *build) environment(c *container, p *problems) environment {
	e := environment{all: map[string][]source{}, effective: map[string]source{}}
	set := func(name string, s source) {
		e.all[name] = append(e.all[name], s)
		e.effective[name] = s
	}
	for _, f := range c.EnvFrom {
		switch {
		case f.SecretRef != nil:
			p.add("container %s: envFrom Secret %s hands every key of the Secret to the program; use one secretKeyRef per variable", c.Name, f.SecretRef.Name)
		case f.ConfigMapRef != nil:
			cm := b.configMap(f.ConfigMapRef.Name)
			if cm == nil {
				p.add("container %s: envFrom ConfigMap %s is not in the build (a generated ConfigMap's reference not rewritten to its hashed name?)", c.Name, f.ConfigMapRef.Name)
				continue
			}
			for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
				set(f.Prefix+k, source{via: "envFrom configMapRef", ref: cm.Metadata.Name, key: k, value: cm.Data[k], known: true})
			}
		}
	}
	for _, v := range c.Env {
		switch {
		case v.ValueFrom == nil:
			s := source{via: "value", known: true}
			if v.Value != nil {
				s.value = *v.Value
			}
			set(v.Name, s)
		case v.ValueFrom.SecretKeyRef != nil:
			r := v.ValueFrom.SecretKeyRef
			s := source{via: "secretKeyRef", ref: r.Name, key: r.Key, optional: r.Optional != nil && *r.Optional}
			s.value, s.known = b.secret[r.Key]
			if r.Name == secretName && !s.known && !s.optional {
				p.add("container %s: %s reads key %s of Secret %s, which secret.example.yaml does not show", c.Name, v.Name, r.Key, r.Name)
			}
			set(v.Name, s)
		case v.ValueFrom.ConfigMapKeyRef != nil:
			r := v.ValueFrom.ConfigMapKeyRef
			s := source{via: "configMapKeyRef", ref: r.Name, key: r.Key, optional: r.Optional != nil && *r.Optional}
			if cm := b.configMap(r.Name); cm == nil {
				p.add("container %s: %s reads ConfigMap %s, which is not in the build (a generated ConfigMap's reference not rewritten to its hashed name?)", c.Name, v.Name, r.Name)
			} else if s.value, s.known = cm.Data[r.Key]; !s.known && !s.optional {
				p.add("container %s: %s reads key %s, which ConfigMap %s does not have: the pod would not start", c.Name, v.Name, r.Key, r.Name)
			}
			set(v.Name, s)
		case v.ValueFrom.FieldRef != nil:
			set(v.Name, source{via: "fieldRef"})
		case v.ValueFrom.ResourceFieldRef != nil:
			set(v.Name, source{via: "resourceFieldRef"})
		default:
			set(v.Name, source{via: "an unknown valueFrom"})
		}
	}
	return e
}

// value is what the program sees for v: the manifests' value, else its default.
func (e environment) value(v config.Variable) string {
	if s, ok := e.effective[v.Name]; ok && s.known {
		return s.value
	}
	return v.Default
}

func variable(p program, name string) (config.Variable, bool) {
	i := slices.IndexFunc(p.variables, func(v config.Variable) bool { return v.Name == name })
	if i < 0 {
		return config.Variable{}, false
	}
	return p.variables[i], true
}

// ---- the checks ----

// checkInventory: what the build must (and must not) emit.
func checkInventory(b *build) problems {
	var p problems
	for _, want := range []struct{ kind, name string }{
		{"Deployment", "wxnotify-api"}, {"Service", "wxnotify-api"}, {"HorizontalPodAutoscaler", "wxnotify-api"},
		{"PodDisruptionBudget", "wxnotify-api"}, {"Deployment", "wxnotify-worker"}, {"PodDisruptionBudget", "wxnotify-worker"},
	} {
		if b.find(want.kind, want.name) == nil {
			p.add("the build has no %s %s", want.kind, want.name)
		}
	}
	for _, base := range generated {
		if b.generatedName(base) == "" {
			p.add("the build has no ConfigMap %s-<hash>: the configMapGenerator %s is missing or has disableNameSuffixHash (a changed value would then not roll the pods)", base, base)
		}
	}
	for _, o := range b.objects {
		if o.Kind == "Secret" {
			p.add("the build emits Secret %s: secrets are created out of band (secret.example.yaml), never by the kustomization", o.Metadata.Name)
		}
		if o.Metadata.Labels["app.kubernetes.io/part-of"] != "wxnotify" {
			p.add("%s lacks the label app.kubernetes.io/part-of: wxnotify", o)
		}
		if o.Deployment != nil && o.Deployment.Template.Metadata.Labels["app.kubernetes.io/part-of"] != "wxnotify" {
			p.add("%s: its pods lack the label app.kubernetes.io/part-of: wxnotify", o)
		}
	}
	return p
}

// checkProgram: one program's Deployment against its configuration.
func checkProgram(b *build, prog program) problems {
	var p problems
	d, c := b.pod(prog)
	if d == nil {
		p.add("the build has no Deployment %s", prog.deployment)
		return p
	}
	if c == nil {
		p.add("Deployment %s has no container %s", prog.deployment, prog.container)
		return p
	}
	where := fmt.Sprintf("Deployment %s, container %s", prog.deployment, c.Name)
	if !matches(d.Selector, d.Template.Metadata.Labels) {
		p.add("Deployment %s: its selector %v does not select its own pods %v", prog.deployment, d.Selector.MatchLabels, d.Template.Metadata.Labels)
	}
	if c.Image == prog.image || c.Image == "" {
		p.add("%s: image %q was not rewritten: the kustomization's images need an entry named %s", where, c.Image, prog.image)
	}

	env := b.environment(c, &p)
	for _, name := range slices.Sorted(maps.Keys(env.all)) {
		if _, ok := variable(prog, name); !ok {
			for _, s := range env.all[name] {
				p.add("%s: %s (from %s) is not a variable the %s program reads (config.%sVariables())", where, name, s, prog.name, titled(prog.name))
			}
		}
	}
	for _, v := range prog.variables {
		s, set := env.effective[v.Name]
		why, k8s := k8sRequired[v.Name]
		switch {
		case (v.Required || k8s) && !set:
			if v.Required {
				why = "the program refuses to start without it"
			}
			p.add("%s: %s is not provided (%s)", where, v.Name, why)
		case (v.Required || k8s) && s.optional:
			p.add("%s: %s is required but comes from an optional %s", where, v.Name, s)
		}
		if v.Secret {
			for _, s := range env.all[v.Name] {
				if s.via != "secretKeyRef" || s.ref != secretName {
					p.add("%s: secret variable %s comes from %s; it must come only from a secretKeyRef to Secret %s", where, v.Name, s, secretName)
				}
			}
		}
	}
	if err := prog.load(func(name string) string { return env.effective[name].value }); err != nil {
		p.add("%s: with these settings (and secret.example.yaml's values) the %s program refuses to start: %v", where, prog.name, err)
	}

	// The port it listens on, and the probes on it.
	listenVar, _ := variable(prog, prog.listenVar)
	addr := env.value(listenVar)
	port, err := listenPort(addr)
	if err != nil {
		p.add("%s: %s=%q: %v", where, prog.listenVar, addr, err)
		return p
	}
	if !slices.ContainsFunc(c.Ports, func(cp containerPort) bool { return cp.ContainerPort == port }) {
		p.add("%s: no containerPort %d, the port of %s=%q (container ports: %v)", where, port, prog.listenVar, addr, c.Ports)
	}
	for _, pr := range []struct {
		kind   string
		probe  *probe
		paths  []string
		needed bool
	}{
		{"readinessProbe", c.ReadinessProbe, []string{"/readyz"}, true},
		{"livenessProbe", c.LivenessProbe, []string{"/healthz"}, true},
		{"startupProbe", c.StartupProbe, []string{"/healthz", "/readyz"}, false},
	} {
		switch {
		case pr.probe == nil:
			if pr.needed {
				p.add("%s: no %s (want GET %s on port %d)", where, pr.kind, pr.paths[0], port)
			}
		case pr.probe.HTTPGet == nil:
			p.add("%s: %s is not an httpGet (want GET %s on port %d; the image has no shell)", where, pr.kind, pr.paths[0], port)
		default:
			g := pr.probe.HTTPGet
			if !slices.Contains(pr.paths, g.Path) {
				p.add("%s: %s GETs %q, want %s", where, pr.kind, g.Path, strings.Join(pr.paths, " or "))
			}
			if got, ok := resolvePort(c, g.Port); !ok || got != port {
				p.add("%s: %s is on port %s, not on %d where %s=%q listens", where, pr.kind, g.Port, port, prog.listenVar, addr)
			}
		}
	}

	// Shutdown: SIGTERM comes after preStop; SIGKILL at the grace period.
	shutdownVar, _ := variable(prog, "SHUTDOWN_TIMEOUT")
	shutdown, err := time.ParseDuration(env.value(shutdownVar))
	if err != nil {
		p.add("%s: SHUTDOWN_TIMEOUT=%q: %v", where, env.value(shutdownVar), err)
	}
	var preStop time.Duration
	if l := c.Lifecycle; l != nil && l.PreStop != nil {
		switch {
		case l.PreStop.Exec != nil:
			p.add("%s: preStop exec needs a shell or a sleep binary, and the image has neither: use the sleep action", where)
		case l.PreStop.Sleep != nil:
			preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
		}
	}
	if prog.service && preStop <= 0 {
		p.add("%s: no preStop sleep: the pod is behind a Service, and on SIGTERM it stops listening while endpoints may still send to it", where)
	}
	grace := 30 * time.Second // Kubernetes' default
	if g := d.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if err == nil && grace <= preStop+shutdown {
		p.add("%s: terminationGracePeriodSeconds %v is not above the preStop sleep %v plus SHUTDOWN_TIMEOUT %v: the kubelet would SIGKILL it mid-shutdown", where, grace.Seconds(), preStop, shutdown)
	}

	// Security.
	podSC, sc := d.Template.Spec.SecurityContext, c.SecurityContext
	if sc == nil {
		sc = &securityContext{}
	}
	if podSC == nil {
		podSC = &securityContext{}
	}
	if nonRoot := first(sc.RunAsNonRoot, podSC.RunAsNonRoot); nonRoot == nil || !*nonRoot {
		p.add("%s: runAsNonRoot is not true", where)
	}
	if uid := first(sc.RunAsUser, podSC.RunAsUser); uid != nil && *uid == 0 {
		p.add("%s: runAsUser is 0 (root)", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p.add("%s: readOnlyRootFilesystem is not true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add("%s: allowPrivilegeEscalation is not false", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		p.add("%s: capabilities do not drop ALL", where)
	}

	// Every ConfigMap volume is one the build emits.
	for _, v := range d.Template.Spec.Volumes {
		if v.ConfigMap != nil && b.configMap(v.ConfigMap.Name) == nil {
			p.add("Deployment %s: volume %s mounts ConfigMap %s, which is not in the build (a generated ConfigMap's reference not rewritten to its hashed name?)", prog.deployment, v.Name, v.ConfigMap.Name)
		}
	}
	// The api's template registry is a file in the pod that loads.
	if tv, ok := variable(prog, "TEMPLATES_FILE"); ok {
		if file := env.value(tv); file != "" {
			data, err := b.mountedFile(d, c, file)
			if err != nil {
				p.add("%s: TEMPLATES_FILE=%s: %v", where, file, err)
			} else if _, err := registry.Load([]byte(data)); err != nil {
				p.add("%s: TEMPLATES_FILE=%s does not load: %v", where, file, err)
			}
		}
	}
	return p
}

// mountedFile is the content of file in container c, if a ConfigMap of the
// build puts it there.
func (b *build) mountedFile(d *deploymentSpec, c *container, file string) (string, error) {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if m.SubPath != "" {
			rel, ok = m.SubPath, file == m.MountPath
		}
		if !ok {
			continue
		}
		i := slices.IndexFunc(d.Template.Spec.Volumes, func(v volume) bool { return v.Name == m.Name })
		if i < 0 || d.Template.Spec.Volumes[i].ConfigMap == nil {
			return "", fmt.Errorf("mounted from volume %s, which is not a ConfigMap volume", m.Name)
		}
		vol := d.Template.Spec.Volumes[i].ConfigMap
		cm := b.configMap(vol.Name)
		if cm == nil {
			return "", fmt.Errorf("ConfigMap %s is not in the build", vol.Name)
		}
		key := rel
		if len(vol.Items) > 0 {
			j := slices.IndexFunc(vol.Items, func(it keyToPath) bool { return path.Clean(it.Path) == rel })
			if j < 0 {
				return "", fmt.Errorf("volume %s projects no item to %s", m.Name, rel)
			}
			key = vol.Items[j].Key
		}
		data, ok := cm.Data[key]
		if !ok {
			return "", fmt.Errorf("ConfigMap %s has no key %s", vol.Name, key)
		}
		return data, nil
	}
	return "", fmt.Errorf("no volume is mounted there")
}

// checkService: the api's Service reaches the api's pods, on the api's port.
func checkService(b *build) problems {
	var p problems
	svc := b.find("Service", "wxnotify-api")
	d, c := b.pod(api)
	if svc == nil || d == nil || c == nil {
		return append(p, "the build lacks the Service or the Deployment wxnotify-api")
	}
	if len(svc.Service.Selector) == 0 || !matches(labelSelector{MatchLabels: svc.Service.Selector}, d.Template.Metadata.Labels) {
		p.add("Service wxnotify-api: its selector %v does not match the api pods' labels %v", svc.Service.Selector, d.Template.Metadata.Labels)
	}
	if wd, _ := b.pod(worker); wd != nil && matches(labelSelector{MatchLabels: svc.Service.Selector}, wd.Template.Metadata.Labels) {
		p.add("Service wxnotify-api: its selector %v also matches the worker pods", svc.Service.Selector)
	}
	if svc.Service.Type != "" && svc.Service.Type != "ClusterIP" {
		p.add("Service wxnotify-api is %s, want ClusterIP (expose it through an Ingress or a Gateway)", svc.Service.Type)
	}
	port, err := apiListenPort(b)
	if err != nil {
		return append(p, err.Error())
	}
	if len(svc.Service.Ports) == 0 {
		p.add("Service wxnotify-api has no ports")
	}
	for _, sp := range svc.Service.Ports {
		target := intOrString{Int: sp.Port}
		if sp.TargetPort != nil {
			target = *sp.TargetPort
		}
		if got, ok := resolvePort(c, target); !ok || got != port {
			p.add("Service wxnotify-api: port %d targets %s, which is not the api's port %d", sp.Port, target, port)
		}
	}
	return p
}

// apiListenPort is the port the api listens on, as the Deployment sets it.
func apiListenPort(b *build) (int, error) {
	_, c := b.pod(api)
	var ignored problems
	env := b.environment(c, &ignored)
	v, _ := variable(api, api.listenVar)
	port, err := listenPort(env.value(v))
	if err != nil {
		return 0, fmt.Errorf("the api's %s=%q: %v", api.listenVar, env.value(v), err)
	}
	return port, nil
}

// checkHPA: the autoscaler scales the api, on a metric it can compute.
func checkHPA(b *build) problems {
	var p problems
	o := b.find("HorizontalPodAutoscaler", "wxnotify-api")
	d, c := b.pod(api)
	if o == nil || d == nil || c == nil {
		return append(p, "the build lacks the HorizontalPodAutoscaler or the Deployment wxnotify-api")
	}
	h := o.HPA
	if r := h.ScaleTargetRef; r.Kind != "Deployment" || r.Name != api.deployment || r.APIVersion != "apps/v1" {
		p.add("HorizontalPodAutoscaler wxnotify-api scales %s %s (%s), not Deployment %s (apps/v1)", r.Kind, r.Name, r.APIVersion, api.deployment)
	}
	if h.MinReplicas == nil || *h.MinReplicas < 2 || *h.MinReplicas > h.MaxReplicas {
		p.add("HorizontalPodAutoscaler wxnotify-api: minReplicas %v must be at least 2 (one pod alone has no failover) and at most maxReplicas %d", deref(h.MinReplicas), h.MaxReplicas)
	}
	for _, m := range h.Metrics {
		if m.Type == "Resource" && m.Resource != nil && m.Resource.Target.Type == "Utilization" {
			if _, ok := c.Resources.Requests[m.Resource.Name]; !ok {
				p.add("HorizontalPodAutoscaler wxnotify-api scales on %s utilization, but the api container has no %s request to compare it with", m.Resource.Name, m.Resource.Name)
			}
		}
	}
	return p
}

// checkPDBs: each budget covers exactly its Deployment's pods, and allows a drain.
func checkPDBs(b *build) problems {
	var p problems
	for _, prog := range programs {
		o := b.find("PodDisruptionBudget", prog.deployment)
		d, _ := b.pod(prog)
		if o == nil || d == nil {
			p.add("the build lacks PodDisruptionBudget or Deployment %s", prog.deployment)
			continue
		}
		sel := o.PDB.Selector
		if sel == nil || len(sel.MatchLabels) == 0 || !matches(*sel, d.Template.Metadata.Labels) {
			p.add("PodDisruptionBudget %s: its selector does not match the pods of Deployment %s (labels %v)", prog.deployment, prog.deployment, d.Template.Metadata.Labels)
			continue
		}
		for _, other := range programs {
			if od, _ := b.pod(other); other.name != prog.name && od != nil && matches(*sel, od.Template.Metadata.Labels) {
				p.add("PodDisruptionBudget %s: its selector also matches the pods of Deployment %s", prog.deployment, other.deployment)
			}
		}
		replicas := int32(1)
		if d.Replicas != nil {
			replicas = *d.Replicas
		}
		switch {
		case o.PDB.MinAvailable != nil && o.PDB.MinAvailable.Str == "" && int32(o.PDB.MinAvailable.Int) >= replicas:
			p.add("PodDisruptionBudget %s: minAvailable %d with %d replicas blocks every node drain", prog.deployment, o.PDB.MinAvailable.Int, replicas)
		case o.PDB.MaxUnavailable != nil && o.PDB.MaxUnavailable.Str == "" && o.PDB.MaxUnavailable.Int < 1:
			p.add("PodDisruptionBudget %s: maxUnavailable %d blocks every node drain", prog.deployment, o.PDB.MaxUnavailable.Int)
		case o.PDB.MinAvailable == nil && o.PDB.MaxUnavailable == nil:
			p.add("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", prog.deployment)
		}
	}
	return p
}

// ---- helpers ----

// matches reports whether sel selects labels; matchExpressions are not
// understood here, so a selector using them never matches.
func matches(sel labelSelector, labels map[string]string) bool {
	if len(sel.MatchExpressions) > 0 {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func listenPort(addr string) (int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

// resolvePort is the number of port in c: itself, or the containerPort of that name.
func resolvePort(c *container, port intOrString) (int, bool) {
	if port.Str == "" {
		return port.Int, port.Int > 0
	}
	for _, cp := range c.Ports {
		if cp.Name == port.Str {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func first[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func deref[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

func titled(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func checkAll(b *build) problems {
	p := checkInventory(b)
	for _, prog := range programs {
		p = append(p, checkProgram(b, prog)...)
	}
	p = append(p, checkService(b)...)
	p = append(p, checkHPA(b)...)
	return append(p, checkPDBs(b)...)
}

// ---- the tests ----

func TestInventory(t *testing.T) {
	t.Parallel()
	report(t, checkInventory(loadBuild(t)))
}

func TestAPIDeployment(t *testing.T) {
	t.Parallel()
	report(t, checkProgram(loadBuild(t), api))
}

func TestWorkerDeployment(t *testing.T) {
	t.Parallel()
	report(t, checkProgram(loadBuild(t), worker))
}

func TestService(t *testing.T) {
	t.Parallel()
	report(t, checkService(loadBuild(t)))
}

func TestHorizontalPodAutoscaler(t *testing.T) {
	t.Parallel()
	report(t, checkHPA(loadBuild(t)))
}

func TestPodDisruptionBudgets(t *testing.T) {
	t.Parallel()
	report(t, checkPDBs(loadBuild(t)))
}

// TestChecksCatchDefects breaks one thing at a time in a copy of the build
// and expects the checks to name it: a check that cannot fail checks nothing.
func TestChecksCatchDefects(t *testing.T) {
	t.Parallel()
	apiC := func(b *build) *container { _, c := b.pod(api); return c }
	workerC := func(b *build) *container { _, c := b.pod(worker); return c }
	envOf := func(c *container, name string) *envVar {
		for i := range c.Env {
			if c.Env[i].Name == name {
				return &c.Env[i]
			}
		}
		panic("no env " + name)
	}
	literal := func(s string) *string { return &s }
	for _, tc := range []struct {
		name   string
		breaks func(b *build)
		want   string
	}{
		{"readiness probe path", func(b *build) { apiC(b).ReadinessProbe.HTTPGet.Path = "/healthz" }, `readinessProbe GETs "/healthz", want /readyz`},
		{"liveness probe path", func(b *build) { workerC(b).LivenessProbe.HTTPGet.Path = "/live" }, `livenessProbe GETs "/live", want /healthz`},
		{"probe on another port", func(b *build) { workerC(b).ReadinessProbe.HTTPGet.Port = intOrString{Int: 8080} }, "readinessProbe is on port 8080, not on 9090"},
		{"container port off the listen address", func(b *build) { apiC(b).Ports[0].ContainerPort = 8081 }, "no containerPort 8080"},
		{"listen address moved", func(b *build) { envOf(workerC(b), "WORKER_HTTP_ADDR").Value = literal(":9091") }, "no containerPort 9091"},
		{"worker grace period", func(b *build) {
			b.find("Deployment", "wxnotify-worker").Deployment.Template.Spec.TerminationGracePeriodSeconds = new(int64(20))
		}, "terminationGracePeriodSeconds 20 is not above"},
		{"worker grace period by default", func(b *build) {
			b.find("Deployment", "wxnotify-worker").Deployment.Template.Spec.TerminationGracePeriodSeconds = nil
			envOf(workerC(b), "SHUTDOWN_TIMEOUT").Value = literal("30s")
		}, "terminationGracePeriodSeconds 30 is not above"},
		{"api grace period counts preStop", func(b *build) { envOf(apiC(b), "SHUTDOWN_TIMEOUT").Value = literal("25s") }, "preStop sleep 5s plus SHUTDOWN_TIMEOUT 25s"},
		{"no preStop on the api", func(b *build) { apiC(b).Lifecycle = nil }, "no preStop sleep"},
		{"secret as a literal", func(b *build) {
			v := envOf(apiC(b), "WECHAT_APP_SECRET")
			v.Value, v.ValueFrom = literal("s3cret"), nil
		}, `secret variable WECHAT_APP_SECRET comes from a literal value "s3cret"`},
		{"secret in a ConfigMap", func(b *build) {
			b.configMap(b.generatedName("wxnotify-config")).Data["REDIS_URL"] = "redis://:pw@redis:6379/0"
		}, "secret variable REDIS_URL comes from envFrom configMapRef wxnotify-config-"},
		{"secret from another Secret", func(b *build) { envOf(workerC(b), "REDIS_URL").ValueFrom.SecretKeyRef.Name = "other" }, "secret variable REDIS_URL comes from secretKeyRef other key REDIS_URL"},
		{"envFrom a Secret", func(b *build) {
			c := apiC(b)
			c.EnvFrom = append(c.EnvFrom, envFromSource{SecretRef: &envFromRef{Name: secretName}})
		}, "envFrom Secret wxnotify-secrets"},
		{"required variable missing", func(b *build) {
			c := apiC(b)
			c.Env = slices.DeleteFunc(c.Env, func(v envVar) bool { return v.Name == "API_KEYS" })
		}, "API_KEYS is not provided"},
		{"required variable optional", func(b *build) { envOf(workerC(b), "WECHAT_APP_SECRET").ValueFrom.SecretKeyRef.Optional = new(true) }, "WECHAT_APP_SECRET is required but comes from an optional"},
		{"redis left at its default", func(b *build) {
			c := workerC(b)
			c.Env = slices.DeleteFunc(c.Env, func(v envVar) bool { return v.Name == "REDIS_URL" })
		}, "REDIS_URL is not provided"},
		{"variable the program does not read", func(b *build) { b.configMap(b.generatedName("wxnotify-worker-config")).Data["TEMPLATES_FILE"] = "/x" }, "TEMPLATES_FILE (from envFrom configMapRef wxnotify-worker-config-"},
		{"misspelt variable", func(b *build) { c := apiC(b); c.Env = append(c.Env, envVar{Name: "LOGLEVEL", Value: literal("debug")}) }, `LOGLEVEL (from a literal value "debug") is not a variable the api program reads`},
		{"value the program refuses", func(b *build) {
			b.configMap(b.generatedName("wxnotify-worker-config")).Data["TASK_CHECK_INTERVAL"] = "10"
		}, "the worker program refuses to start"},
		{"reference not rewritten", func(b *build) { apiC(b).EnvFrom[0].ConfigMapRef.Name = "wxnotify-config" }, "envFrom ConfigMap wxnotify-config is not in the build"},
		{"templates not mounted", func(b *build) { apiC(b).VolumeMounts = nil }, "TEMPLATES_FILE=/etc/wxnotify/templates.yaml: no volume is mounted there"},
		{"templates broken", func(b *build) {
			b.configMap(b.generatedName("wxnotify-templates")).Data["templates.yaml"] = "templates: {x: {kind: weekly}}"
		}, "TEMPLATES_FILE=/etc/wxnotify/templates.yaml does not load"},
		{"root", func(b *build) { workerC(b).SecurityContext.RunAsUser = new(int64(0)) }, "runAsUser is 0"},
		{"writable root filesystem", func(b *build) { apiC(b).SecurityContext.ReadOnlyRootFilesystem = nil }, "readOnlyRootFilesystem is not true"},
		{"image not rewritten", func(b *build) { workerC(b).Image = "wxnotify-worker" }, `image "wxnotify-worker" was not rewritten`},
		{"Secret emitted", func(b *build) {
			b.objects = append(b.objects, &object{Kind: "Secret", Metadata: meta{Name: secretName, Labels: map[string]string{"app.kubernetes.io/part-of": "wxnotify"}}})
		}, "the build emits Secret wxnotify-secrets"},
		{"Service selects the workers", func(b *build) {
			b.find("Service", "wxnotify-api").Service.Selector["app.kubernetes.io/component"] = "worker"
		}, "does not match the api pods"},
		{"Service targets another port", func(b *build) {
			b.find("Service", "wxnotify-api").Service.Ports[0].TargetPort = &intOrString{Str: "metrics"}
		}, `targets "metrics", which is not the api's port 8080`},
		{"HPA scales the worker", func(b *build) {
			b.find("HorizontalPodAutoscaler", "wxnotify-api").HPA.ScaleTargetRef.Name = "wxnotify-worker"
		}, "scales Deployment wxnotify-worker"},
		{"HPA without a CPU request", func(b *build) { delete(apiC(b).Resources.Requests, "cpu") }, "no cpu request"},
		{"PDB selects nothing", func(b *build) {
			b.find("PodDisruptionBudget", "wxnotify-worker").PDB.Selector.MatchLabels["app.kubernetes.io/component"] = "wrker"
		}, "PodDisruptionBudget wxnotify-worker: its selector does not match"},
		{"PDB blocks drains", func(b *build) { b.find("PodDisruptionBudget", "wxnotify-api").PDB.MinAvailable = &intOrString{Int: 2} }, "blocks every node drain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := loadBuild(t)
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("this defect no longer applies to the manifests (did they change?): %v", r)
					}
				}()
				tc.breaks(b)
			}()
			got := checkAll(b)
			if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("no problem mentions %q; the checks said:\n%s", tc.want, strings.Join(got, "\n"))
			}
		})
	}
}
