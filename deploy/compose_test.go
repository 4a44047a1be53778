// Package deploy holds the deployment files (Dockerfile, the sandbox program);
// this test checks ../docker-compose.yml and Dockerfile against the programs
// they run: the variables each program reads (config.APIVariables,
// config.WorkerVariables), the stages and binary paths of the Dockerfile, and
// the shutdown and listen settings. It needs no Docker engine: the compose
// file is loaded with compose-go, the library docker compose itself uses.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"wxnotify/internal/config"
)

// program is a wxnotify program the compose file runs, by service name.
type program struct {
	kind         string // for messages: which config list applies
	variables    func() []config.Variable
	load         func(getenv func(string) string) error // the program's own configuration check
	addrVariable string                                 // its listen address (health checks, /metrics)
	publishes    bool                                   // whether the dev stack publishes its port on the host
}

var programs = map[string]program{
	"api": {
		kind: "config.APIVariables", variables: config.APIVariables, addrVariable: "HTTP_ADDR", publishes: true,
		load: func(getenv func(string) string) error { _, err := config.LoadAPI(getenv); return err },
	},
	"worker": {
		kind: "config.WorkerVariables", variables: config.WorkerVariables, addrVariable: "WORKER_HTTP_ADDR",
		load: func(getenv func(string) string) error { _, err := config.LoadWorker(getenv); return err },
	},
}

const (
	sandboxService = "wechat-sandbox"
	// The sandbox program's defaults when its variables are unset
	// (deploy/sandbox/flags.go).
	sandboxDefaultAddr   = ":8090"
	sandboxDefaultAppID  = "wxsandbox00000000"
	sandboxDefaultSecret = "sandbox-app-secret"

	productionWeChat = "https://api.weixin.qq.com"
	// The "healthcheck" subcommand (internal/program's probe) gives up after 3s:
	// a shorter Docker timeout would kill a probe that was about to answer.
	probeTimeout = 3 * time.Second
	// Docker's grace period when stop_grace_period is unset.
	dockerDefaultGrace = 10 * time.Second
)

// Environments the stack is checked in: the one-command dev stack, and a
// real mini program on WeChat's own API.
var environments = map[string]map[string]string{
	"empty": {},
	"production": {
		"WECHAT_APPID":      "wx0123456789abcdef",
		"WECHAT_APP_SECRET": "0123456789abcdef0123456789abcdef",
		"WECHAT_BASE_URL":   productionWeChat,
		"TEMPLATES_FILE":    "/etc/wxnotify/templates.yaml",
		"API_KEYS":          "prod-order-service-key-0123456789",
		"ADMIN_PASSWORD":    "a-long-production-password",
	},
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	compose, dockerfile := readFiles(t)
	for name, env := range environments {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := loadProject(t.Context(), compose, env)
			if err != nil {
				t.Fatalf("docker-compose.yml does not load: %v", err)
			}
			for _, problem := range audit(p, dockerfile, env) {
				t.Error(problem)
			}
		})
	}
}

// A defect is a change to the files (or the environment) that the audit must report.
type defect struct {
	name      string
	file      string // "compose" or "dockerfile"; "" changes only the environment
	old, new  string // every occurrence of old is replaced; old must occur
	env       map[string]string
	wantInAny string // some reported problem contains this
}

var defects = []defect{
	{name: "target renamed in compose", file: "compose", old: "target: api", new: "target: app", wantInAny: `api: build target "app" is not a stage`},
	{name: "stage renamed in Dockerfile", file: "dockerfile", old: "AS worker", new: "AS workers", wantInAny: `worker: build target "worker" is not a stage`},
	{name: "typo'd variable", file: "compose", old: "LOG_LEVEL: ${LOG_LEVEL:-info}", new: "LOG_LEVL: ${LOG_LEVEL:-info}", wantInAny: "worker: environment variable LOG_LEVL"},
	{name: "api-only variable given to the worker", file: "compose", old: "  LOG_LEVEL: ${LOG_LEVEL:-info}\n", new: "  LOG_LEVEL: ${LOG_LEVEL:-info}\n  TEMPLATES_FILE: /t.yaml\n", wantInAny: "worker: environment variable TEMPLATES_FILE"},
	{name: "required variable missing", file: "compose", old: "      API_KEYS: ${API_KEYS:-dev-order-service-key-0001}\n", new: "", wantInAny: "api: the program refuses this environment: config: API_KEYS: required"},
	{name: "a value the api refuses", file: "compose", old: "dev-order-service-key-0001", new: "dev-key", wantInAny: "api: the program refuses this environment"},
	{name: "worker grace period not above its shutdown", file: "compose", old: "stop_grace_period: 30s", new: "stop_grace_period: 20s", wantInAny: "worker: stop_grace_period 20s"},
	{name: "api grace period unset", file: "compose", old: "    stop_grace_period: 20s\n", new: "", wantInAny: "api: stop_grace_period unset"},
	{name: "sandbox URL on the wrong port", file: "compose", old: "http://wechat-sandbox:8090}", new: "http://wechat-sandbox:8080}", wantInAny: "WECHAT_BASE_URL"},
	{name: "sandbox URL naming no service", file: "compose", old: "http://wechat-sandbox:8090}", new: "http://sandbox:8090}", wantInAny: "WECHAT_BASE_URL"},
	{name: "WECHAT_BASE_URL from the environment ignored", file: "compose", old: "WECHAT_BASE_URL: ${WECHAT_BASE_URL:-http://wechat-sandbox:8090}", new: "WECHAT_BASE_URL: http://wechat-sandbox:8090", env: environments["production"], wantInAny: "WECHAT_BASE_URL"},
	{name: "sandbox with another secret", file: "compose", old: "      WECHAT_APP_SECRET: ${WECHAT_APP_SECRET:-sandbox-app-secret}\n      # WeChat's message pushes", new: "      WECHAT_APP_SECRET: other-secret\n      # WeChat's message pushes", wantInAny: "WECHAT_APP_SECRET"},
	{name: "production WeChat without TEMPLATES_FILE", env: map[string]string{"WECHAT_BASE_URL": productionWeChat}, wantInAny: "TEMPLATES_FILE"},
	{name: "redis evicts", file: "compose", old: "noeviction", new: "allkeys-lru", wantInAny: "redis: command lacks --maxmemory-policy noeviction"},
	{name: "redis without AOF", file: "compose", old: `"--appendonly", "yes"`, new: `"--appendonly", "no"`, wantInAny: "redis: command lacks --appendonly yes"},
	{name: "redis not health-checked", file: "compose", old: `      test: ["CMD", "redis-cli", "ping"]`, new: `      disable: true`, wantInAny: "redis: no healthcheck"},
	{name: "programs start before redis is healthy", file: "compose", old: "condition: service_healthy", new: "condition: service_started", wantInAny: "worker: depends on redis with condition service_started"},
	{name: "healthcheck runs a path the image lacks", file: "compose", old: `"/usr/local/bin/worker", "healthcheck"`, new: `"/usr/bin/worker", "healthcheck"`, wantInAny: "worker: healthcheck test"},
	{name: "healthcheck through a shell", file: "compose", old: `["CMD", "/usr/local/bin/api", "healthcheck"]`, new: `["CMD-SHELL", "/usr/local/bin/api healthcheck"]`, wantInAny: "api: healthcheck test"},
	{name: "healthcheck timeout below the probe's", file: "compose", old: "      timeout: 5s\n      retries: 3\n      start_period: 10s\n    # Above SHUTDOWN_TIMEOUT: sends", new: "      timeout: 1s\n      retries: 3\n      start_period: 10s\n    # Above SHUTDOWN_TIMEOUT: sends", wantInAny: "worker: healthcheck timeout 1s"},
	{name: "binary copied elsewhere", file: "dockerfile", old: "COPY --from=build /out/api /usr/local/bin/api", new: "COPY --from=build /out/api /bin/api", wantInAny: "target api: ENTRYPOINT"},
	{name: "target holds another program", file: "dockerfile", old: "/out/api /usr/local/bin/api", new: "/out/worker /usr/local/bin/api", wantInAny: "target api: copies /out/worker"},
	{name: "target runs as root", file: "dockerfile", old: "USER nonroot:nonroot\nEXPOSE 8080", new: "EXPOSE 8080", wantInAny: "target api: runs as root"},
	{name: "EXPOSE not the listen port", file: "dockerfile", old: "EXPOSE 9090", new: "EXPOSE 9091", wantInAny: "target worker: EXPOSE"},
	{name: "shell-form ENTRYPOINT", file: "dockerfile", old: `ENTRYPOINT ["/usr/local/bin/sandbox"]`, new: `ENTRYPOINT /usr/local/bin/sandbox`, wantInAny: "target sandbox: ENTRYPOINT"},
	{name: "api publishes another container port", file: "compose", old: `"127.0.0.1:8080:8080"`, new: `"127.0.0.1:8080:8081"`, wantInAny: "api: publishes no port for its HTTP_ADDR"},
	{name: "api listens elsewhere than published", file: "compose", old: "      SHUTDOWN_TIMEOUT: 15s\n", new: "      SHUTDOWN_TIMEOUT: 15s\n      HTTP_ADDR: \":9000\"\n", wantInAny: "api: publishes no port for its HTTP_ADDR :9000"},
	{name: "api on every interface", file: "compose", old: `"127.0.0.1:8080:8080"`, new: `"8080:8080"`, wantInAny: "api: publishes 8080 on every interface"},
	{name: "worker publishes a host port", file: "compose", old: "      SHUTDOWN_TIMEOUT: 20s\n", new: "      SHUTDOWN_TIMEOUT: 20s\n    ports: [\"127.0.0.1:9090:9090\"]\n", wantInAny: "worker: publishes"},
	{name: "worker with a container_name", file: "compose", old: "      SHUTDOWN_TIMEOUT: 20s\n", new: "      SHUTDOWN_TIMEOUT: 20s\n    container_name: wxnotify-worker\n", wantInAny: "worker: container_name"},
	{name: "program not built from the Dockerfile", file: "compose", old: "  worker:\n    build:\n      context: .\n      dockerfile: deploy/Dockerfile\n      target: worker\n", new: "  worker:\n    image: example/worker\n", wantInAny: "worker: not built"},
	{name: "service built from another Dockerfile", file: "compose", old: "      dockerfile: deploy/Dockerfile\n      target: worker", new: "      dockerfile: Dockerfile\n      target: worker", wantInAny: "worker: builds from"},
}

// Every defect above is reported: the audit is not vacuous.
func TestComposeAuditCatchesDefects(t *testing.T) {
	t.Parallel()
	compose, dockerfile := readFiles(t)
	for _, d := range defects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			c, df := compose, dockerfile
			switch d.file {
			case "compose":
				c = mutate(t, "docker-compose.yml", c, d.old, d.new)
			case "dockerfile":
				df = mutate(t, "deploy/Dockerfile", df, d.old, d.new)
			}
			env := d.env
			if env == nil {
				env = map[string]string{}
			}
			p, err := loadProject(t.Context(), c, env)
			if err != nil {
				t.Fatalf("the changed docker-compose.yml does not load, so the defect tests nothing: %v", err)
			}
			problems := audit(p, df, env)
			if !slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, d.wantInAny) }) {
				t.Errorf("defect not reported as %q; the audit said:\n  %s", d.wantInAny, strings.Join(problems, "\n  "))
			}
		})
	}
}

func mutate(t *testing.T, file string, content []byte, old, new string) []byte {
	t.Helper()
	if !strings.Contains(string(content), old) {
		t.Fatalf("%q is no longer in %s: update this defect to the file", old, file)
	}
	return []byte(strings.ReplaceAll(string(content), old, new))
}

func readFiles(t *testing.T) (compose, dockerfile []byte) {
	t.Helper()
	compose, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err = os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return compose, dockerfile
}

// loadProject loads the compose file as `docker compose` would from the
// repository root, with env as the only environment (never the process's).
func loadProject(ctx context.Context, compose []byte, env map[string]string) (*types.Project, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	return loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml"), Content: compose}},
		Environment: maps.Clone(env),
	}, func(o *loader.Options) { o.SetProjectName("wxnotify", true) })
}

// audit lists what is wrong with the project in env, each problem naming the
// service (or Dockerfile target) and what to fix.
func audit(p *types.Project, dockerfile []byte, env map[string]string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	for _, name := range []string{"redis", sandboxService, "api", "worker"} {
		if _, ok := p.Services[name]; !ok {
			bad("service %s is missing", name)
		}
	}
	if redis, ok := p.Services["redis"]; ok {
		auditRedis(redis, bad)
	}

	stages, err := parseStages(string(dockerfile))
	if err != nil {
		bad("deploy/Dockerfile: %v", err)
	}
	listen := listenAddrs(p)
	binaries := map[string]string{} // service → the path of its program in its image
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if s.Build == nil {
			continue
		}
		if path, ok := auditBuild(p.WorkingDir, name, s.Build, stages, listen[name], bad); ok {
			binaries[name] = path
		}
		for _, port := range s.Ports {
			if port.Published != "" && port.HostIP != "127.0.0.1" {
				bad("%s: publishes %s on every interface; bind it to 127.0.0.1: the dev stack's keys and passwords are public", name, port.Published)
			}
		}
	}

	sandbox, haveSandbox := p.Services[sandboxService]
	for _, name := range slices.Sorted(maps.Keys(programs)) {
		s, ok := p.Services[name]
		if !ok {
			continue
		}
		prog := programs[name]
		if s.Build == nil {
			bad("%s: not built; want deploy/Dockerfile target %s", name, name)
		}
		vars := map[string]config.Variable{}
		for _, v := range prog.variables() {
			vars[v.Name] = v
		}
		value := func(variable string) string { // as the program sees it: set, else its default
			if v := s.Environment[variable]; v != nil && *v != "" {
				return *v
			}
			return vars[variable].Default
		}

		// Environment: names the program reads, required ones set, and a
		// configuration the program accepts.
		for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
			if _, ok := vars[k]; !ok {
				bad("%s: environment variable %s is not one the program reads (%s); a typo, or another program's?", name, k, prog.kind)
			}
		}
		for _, v := range prog.variables() {
			if v.Required && value(v.Name) == "" {
				bad("%s: required variable %s is not set", name, v.Name)
			}
		}
		if err := prog.load(value); err != nil {
			bad("%s: the program refuses this environment: %v", name, err)
		}

		// WeChat: what the environment says, else the sandbox service.
		baseURL := value("WECHAT_BASE_URL")
		if want := env["WECHAT_BASE_URL"]; want != "" {
			if baseURL != want {
				bad("%s: WECHAT_BASE_URL is %q with WECHAT_BASE_URL=%s in the environment; pass the environment's value through", name, baseURL, want)
			}
		} else {
			u, err := url.Parse(baseURL)
			sandboxPort := portOf(listen[sandboxService])
			switch {
			case err != nil || u.Scheme != "http" || u.Hostname() != sandboxService:
				bad("%s: WECHAT_BASE_URL %q with nothing in the environment; want the sandbox, http://%s:%s", name, baseURL, sandboxService, sandboxPort)
			case !haveSandbox:
				bad("%s: WECHAT_BASE_URL %q names no service", name, baseURL)
			case u.Port() != sandboxPort:
				bad("%s: WECHAT_BASE_URL %q is not on the sandbox's SANDBOX_ADDR port %s", name, baseURL, sandboxPort)
			}
			for variable, def := range map[string]string{"WECHAT_APPID": sandboxDefaultAppID, "WECHAT_APP_SECRET": sandboxDefaultSecret} {
				if got, want := value(variable), envValue(sandbox.Environment, variable, def); haveSandbox && got != want {
					bad("%s: %s %q differs from the sandbox's %q: the sandbox would refuse it", name, variable, got, want)
				}
			}
		}

		if dep, ok := s.DependsOn["redis"]; !ok || dep.Condition != types.ServiceConditionHealthy {
			bad("%s: depends on redis with condition %s; want %s (it needs Redis at start)", name, dep.Condition, types.ServiceConditionHealthy)
		}

		// Health check: the binary itself, where the image has it (no shell).
		if hc := s.HealthCheck; hc == nil || hc.Disable {
			bad("%s: no healthcheck", name)
		} else {
			// Where the image has the binary is unknown after a build problem,
			// which is reported on its own.
			if path, ok := binaries[name]; ok {
				if want := []string{"CMD", path, "healthcheck"}; !slices.Equal(hc.Test, want) {
					bad("%s: healthcheck test %q; want %q (exec form: the image has no shell)", name, []string(hc.Test), want)
				}
			}
			if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil || hc.StartPeriod == nil {
				bad("%s: healthcheck needs interval, timeout, retries and start_period", name)
			}
			if hc.Timeout != nil && time.Duration(*hc.Timeout) < probeTimeout {
				bad("%s: healthcheck timeout %s is below the probe's own %s", name, time.Duration(*hc.Timeout), probeTimeout)
			}
		}

		// Shutdown: the grace period outlasts SHUTDOWN_TIMEOUT.
		if shutdown, err := time.ParseDuration(value("SHUTDOWN_TIMEOUT")); err != nil {
			bad("%s: SHUTDOWN_TIMEOUT %q: %v", name, value("SHUTDOWN_TIMEOUT"), err)
		} else if s.StopGracePeriod == nil && dockerDefaultGrace <= shutdown {
			bad("%s: stop_grace_period unset (Docker's %s) is not above SHUTDOWN_TIMEOUT %s: work in flight gets SIGKILL", name, dockerDefaultGrace, shutdown)
		} else if s.StopGracePeriod != nil && time.Duration(*s.StopGracePeriod) <= shutdown {
			bad("%s: stop_grace_period %s is not above SHUTDOWN_TIMEOUT %s: work in flight gets SIGKILL", name, time.Duration(*s.StopGracePeriod), shutdown)
		}

		// Ports: the api's listen port published; workers scale, so nothing fixed.
		addr := value(prog.addrVariable)
		if prog.publishes {
			if !slices.ContainsFunc(s.Ports, func(p types.ServicePortConfig) bool {
				return strconv.FormatUint(uint64(p.Target), 10) == portOf(addr)
			}) {
				bad("%s: publishes no port for its %s %s", name, prog.addrVariable, addr)
			}
		} else {
			if len(s.Ports) > 0 {
				bad("%s: publishes %v; it must not, so that --scale %s=N works", name, s.Ports, name)
			}
			if s.ContainerName != "" {
				bad("%s: container_name %q stops --scale %s=N", name, s.ContainerName, name)
			}
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			bad("%s: restart %q; want %s", name, s.Restart, types.RestartPolicyUnlessStopped)
		}
	}
	return problems
}

func auditRedis(s types.ServiceConfig, bad func(string, ...any)) {
	for _, pair := range [][2]string{{"--appendonly", "yes"}, {"--appendfsync", "everysec"}, {"--maxmemory-policy", "noeviction"}} {
		i := slices.Index(s.Command, pair[0])
		if i < 0 || i+1 >= len(s.Command) || s.Command[i+1] != pair[1] {
			bad("redis: command lacks %s %s (asynq's queue must survive restarts and never be evicted): %q", pair[0], pair[1], []string(s.Command))
		}
	}
	if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
		bad("redis: no healthcheck; the api and worker wait for it to be healthy")
	}
	if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == "/data" }) {
		bad("redis: no volume on /data: the AOF is lost with the container")
	}
}

// auditBuild checks a built service's Dockerfile and target, and returns
// where the target puts its program.
func auditBuild(root, name string, b *types.BuildConfig, stages map[string]stage, listenAddr string, bad func(string, ...any)) (string, bool) {
	dockerfile := b.Dockerfile
	if !filepath.IsAbs(dockerfile) {
		dockerfile = filepath.Join(b.Context, dockerfile)
	}
	if want := filepath.Join(root, "deploy", "Dockerfile"); filepath.Clean(dockerfile) != want {
		bad("%s: builds from %s; want deploy/Dockerfile", name, dockerfile)
		return "", false
	}
	st, ok := stages[b.Target]
	if !ok {
		bad("%s: build target %q is not a stage of deploy/Dockerfile (stages: %v)", name, b.Target, slices.Sorted(maps.Keys(stages)))
		return "", false
	}
	target := "target " + b.Target
	if len(st.entrypoint) != 1 {
		bad("%s: ENTRYPOINT %q; want exec form naming the binary alone (the image has no shell)", target, st.entrypoint)
		return "", false
	}
	path := st.entrypoint[0]
	src, ok := st.binaries[path]
	if !ok {
		bad("%s: ENTRYPOINT %s is not a file the stage copies in (it copies %v)", target, path, slices.Sorted(maps.Keys(st.binaries)))
		return "", false
	}
	if filepath.Base(src) != b.Target {
		bad("%s: copies %s to %s; want the %s binary", target, src, path, b.Target)
	}
	if u, _, _ := strings.Cut(st.user, ":"); u == "" || u == "root" || u == "0" {
		bad("%s: runs as root (USER %q); want USER nonroot:nonroot", target, st.user)
	}
	if port := portOf(listenAddr); port != "" && !slices.Contains(st.expose, port) {
		bad("%s: EXPOSE %v lacks %s, the port the %s service listens on", target, st.expose, port, name)
	}
	return path, true
}

// listenAddrs is each service's listen address as its program sees it.
func listenAddrs(p *types.Project) map[string]string {
	out := map[string]string{}
	for name, prog := range programs {
		def := ""
		for _, v := range prog.variables() {
			if v.Name == prog.addrVariable {
				def = v.Default
			}
		}
		out[name] = envValue(p.Services[name].Environment, prog.addrVariable, def)
	}
	out[sandboxService] = envValue(p.Services[sandboxService].Environment, "SANDBOX_ADDR", sandboxDefaultAddr)
	return out
}

func envValue(env types.MappingWithEquals, name, def string) string {
	if v := env[name]; v != nil && *v != "" {
		return *v
	}
	return def
}

func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

// stage is what the audit needs of one Dockerfile stage.
type stage struct {
	binaries   map[string]string // destination → source of each COPY --from another stage
	entrypoint []string          // exec form only; shell form is left nil
	user       string
	expose     []string // ports, without /tcp
}

// parseStages reads the named stages ("FROM … AS name") of a Dockerfile:
// enough of the syntax for this file (continuation lines, comments, flags,
// exec-form JSON), not all of it.
func parseStages(text string) (map[string]stage, error) {
	stages := map[string]stage{}
	var cur *stage
	var name string
	flush := func() {
		if cur != nil && name != "" {
			stages[name] = *cur
		}
	}
	var logical []string
	var pending string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && pending == "") {
			continue
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			pending += rest + " "
			continue
		}
		logical = append(logical, pending+line)
		pending = ""
	}
	for _, line := range logical {
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			flush()
			cur, name = &stage{binaries: map[string]string{}}, ""
			words := withoutFlags(strings.Fields(rest))
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				name = words[2]
			}
			if _, dup := stages[name]; dup && name != "" {
				return nil, fmt.Errorf("stage %s is defined twice", name)
			}
		case "COPY":
			if cur == nil {
				return nil, fmt.Errorf("%q before FROM", line)
			}
			words := strings.Fields(rest)
			from := slices.ContainsFunc(words, func(w string) bool { return strings.HasPrefix(w, "--from=") })
			args, err := arguments(strings.Join(withoutFlags(words), " "))
			if err != nil || len(args) < 2 {
				return nil, fmt.Errorf("%q: want COPY src… dest", line)
			}
			if from {
				dest := args[len(args)-1]
				for _, src := range args[:len(args)-1] {
					if strings.HasSuffix(dest, "/") {
						cur.binaries[dest+filepath.Base(src)] = src
					} else {
						cur.binaries[dest] = src
					}
				}
			}
		case "ENTRYPOINT":
			if cur == nil {
				return nil, fmt.Errorf("%q before FROM", line)
			}
			cur.entrypoint = nil
			if strings.HasPrefix(rest, "[") {
				if err := json.Unmarshal([]byte(rest), &cur.entrypoint); err != nil {
					return nil, fmt.Errorf("%q: %v", line, err)
				}
			}
		case "USER":
			if cur != nil {
				cur.user = rest
			}
		case "EXPOSE":
			if cur != nil {
				for _, p := range strings.Fields(rest) {
					cur.expose = append(cur.expose, strings.TrimSuffix(p, "/tcp"))
				}
			}
		}
	}
	flush()
	return stages, nil
}

func withoutFlags(words []string) []string {
	return slices.DeleteFunc(slices.Clone(words), func(w string) bool { return strings.HasPrefix(w, "--") })
}

// arguments reads an instruction's arguments in exec (JSON) or plain form.
func arguments(s string) ([]string, error) {
	if strings.HasPrefix(s, "[") {
		var out []string
		err := json.Unmarshal([]byte(s), &out)
		return out, err
	}
	return strings.Fields(s), nil
}
