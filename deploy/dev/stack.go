package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"

	"wxnotify/internal/config"
	"wxnotify/internal/program"
	"wxnotify/internal/sandbox"
)

// Dev values for what the environment leaves unset; printed in the banner.
var devDefaults = map[string]string{
	"WECHAT_APPID":      "wxsandbox00000000",
	"WECHAT_APP_SECRET": "sandbox-app-secret",
	"API_KEYS":          "dev-order-service-key-0001",
	"ADMIN_USER":        "admin",
	"ADMIN_PASSWORD":    "dev-admin-password",
	"HTTP_ADDR":         "127.0.0.1:8080",
	"WORKER_HTTP_ADDR":  "127.0.0.1:9090",
	"SANDBOX_ADDR":      "127.0.0.1:8090",
	"LOG_FORMAT":        "text",
	"WECHAT_PUSH_TOKEN": "dev-push-token",
}

// devApp is a mini program the dev stack serves (and its sandbox plays).
type devApp struct {
	name, appID, secret string
}

// secondApp is the other mini program of -two-apps.
var secondApp = devApp{name: "club", appID: "wxsandbox00000001", secret: "sandbox-club-app-secret"}

// stack is the running dev system.
type stack struct {
	env        map[string]string
	apps       []devApp
	apiURL     string
	workerURL  string
	sandboxURL string // "" when WECHAT_BASE_URL points elsewhere
	sandbox    *sandbox.Sandbox
	redis      string // "embedded" or the REDIS_URL given
	failed     chan error
	stop       func()
}

// start brings up Redis, the sandbox, the API and the worker; with twoApps
// they serve a second mini program beside the first, from an APPS_FILE.
func start(ctx context.Context, getenv func(string) string, logs io.Writer, demo, twoApps bool) (*stack, error) {
	env := map[string]string{}
	for k, v := range devDefaults {
		env[k] = v
	}
	if demo {
		// Nothing to copy by hand: take free ports so the demo runs beside anything.
		env["HTTP_ADDR"], env["WORKER_HTTP_ADDR"], env["SANDBOX_ADDR"] = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	}
	for _, k := range append(envNames(), "SANDBOX_ADDR") {
		if v := getenv(k); v != "" {
			env[k] = v
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	st := &stack{env: env, failed: make(chan error, 3), redis: env["REDIS_URL"],
		apps: []devApp{{name: "default", appID: env["WECHAT_APPID"], secret: env["WECHAT_APP_SECRET"]}}}
	var wg sync.WaitGroup
	var closers []func()
	st.stop = func() {
		cancel()
		wg.Wait()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}

	if twoApps {
		dir, err := writeAppsFile(st)
		if err != nil {
			cancel()
			return nil, err
		}
		closers = append(closers, func() { _ = os.RemoveAll(dir) })
	}
	if env["REDIS_URL"] == "" {
		mr, err := miniredis.Run()
		if err != nil {
			cancel()
			return nil, fmt.Errorf("embedded redis: %w", err)
		}
		closers = append(closers, mr.Close)
		// miniredis counts TTLs down only when told: move its clock with
		// the wall clock (ClockTTL(true) would walk every key per command).
		wg.Go(func() { advanceClock(ctx, mr) })
		env["REDIS_URL"] = "redis://" + mr.Addr() + "/0"
		st.redis = "embedded (miniredis) — set REDIS_URL to use a real Redis"
	}
	if env["WECHAT_BASE_URL"] == "" {
		url, sb, closeSandbox, err := startSandbox(env, st.apps, logs)
		if err != nil {
			st.stop()
			return nil, err
		}
		closers = append(closers, closeSandbox)
		env["WECHAT_BASE_URL"], st.sandboxURL, st.sandbox = url, url, sb
	}

	if _, locked := logs.(*lockedWriter); !locked {
		logs = &lockedWriter{w: logs} // two programs write to it at once
	}
	apiLog, workerLog := newAddrWatch(logs, "api listening"), newAddrWatch(logs, "worker running")
	getenvOf := func(k string) string { return env[k] }
	wg.Go(func() { st.watch("api", program.API(ctx, getenvOf, apiLog)) })
	wg.Go(func() { st.watch("worker", program.Worker(ctx, getenvOf, workerLog)) })
	var err error
	if st.apiURL, err = apiLog.wait(ctx, st.failed); err == nil {
		st.workerURL, err = workerLog.wait(ctx, st.failed)
	}
	if err == nil && st.sandbox != nil && st.pushToken() != "" {
		err = st.setPushes()
	}
	if err != nil {
		st.stop()
		return nil, err
	}
	return st, nil
}

// pushToken is the message push token of the dev apps (one for all).
func (st *stack) pushToken() string {
	if st.env["APPS_FILE"] != "" {
		return st.env["DEV_PUSH_TOKEN"]
	}
	return st.env["WECHAT_PUSH_TOKEN"]
}

// setPushes makes the sandbox push popup, change and sent events to the
// API, as WeChat would: each app's to its own URL.
func (st *stack) setPushes() error {
	for _, a := range st.apps {
		mp, err := st.sandbox.App(a.appID)
		if err != nil {
			return err
		}
		url := st.apiURL + "/v1/wx/events"
		if len(st.apps) > 1 {
			url += "/" + a.name
		}
		if err := mp.SetPush(sandbox.Push{URL: url, Token: st.pushToken(), AESKey: st.env["WECHAT_PUSH_AES_KEY"]}); err != nil {
			return fmt.Errorf("push of %s: %w", a.name, err)
		}
	}
	return nil
}

// writeAppsFile turns the single app of the variables into the first of
// two in an APPS_FILE (in a temporary directory it returns), with the
// secrets in variables it names.
func writeAppsFile(st *stack) (string, error) {
	if st.env["WECHAT_PUSH_AES_KEY"] != "" {
		return "", errors.New("-two-apps: WECHAT_PUSH_AES_KEY is not supported; unset it")
	}
	st.apps[0].name = "shop"
	st.apps = append(st.apps, secondApp)
	dir, err := os.MkdirTemp("", "wxnotify-dev-")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("apps:\n")
	for i, a := range st.apps {
		variable := fmt.Sprintf("DEV_APP_SECRET_%d", i)
		st.env[variable] = a.secret
		fmt.Fprintf(&b, "  - name: %s\n    appid: %s\n    secret: {env: %s}\n", a.name, a.appID, variable)
		if st.env["WECHAT_PUSH_TOKEN"] != "" {
			b.WriteString("    push_token: {env: DEV_PUSH_TOKEN}\n")
		}
	}
	path := filepath.Join(dir, "apps.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	// APPS_FILE replaces the single app's variables: set, they are refused.
	st.env["DEV_PUSH_TOKEN"] = st.env["WECHAT_PUSH_TOKEN"]
	for _, v := range []string{"WECHAT_APPID", "WECHAT_APP_SECRET", "WECHAT_PUSH_TOKEN", "TEMPLATES_FILE", "SEND_RATE_PER_SECOND"} {
		delete(st.env, v)
	}
	st.env["APPS_FILE"] = path
	return dir, nil
}

func (st *stack) watch(name string, err error) {
	if err != nil {
		st.failed <- fmt.Errorf("%s: %w", name, err)
	}
}

// envNames are the variables the programs read.
func envNames() []string {
	var names []string
	for _, v := range append(config.APIVariables(), config.WorkerVariables()...) {
		names = append(names, v.Name)
	}
	return names
}

func advanceClock(ctx context.Context, mr *miniredis.Miniredis) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			mr.FastForward(now.Sub(last))
			last = now
		}
	}
}

func startSandbox(env map[string]string, apps []devApp, logs io.Writer) (string, *sandbox.Sandbox, func(), error) {
	cfg := sandbox.Config{
		AppID: apps[0].appID, AppSecret: apps[0].secret, Templates: sandbox.DefaultTemplates(),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, a := range apps[1:] {
		cfg.Apps = append(cfg.Apps, sandbox.App{AppID: a.appID, AppSecret: a.secret})
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		return "", nil, nil, err
	}
	ln, err := net.Listen("tcp", env["SANDBOX_ADDR"])
	if err != nil {
		return "", nil, nil, fmt.Errorf("SANDBOX_ADDR %s: %w", env["SANDBOX_ADDR"], err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), sb, func() { _ = srv.Close() }, nil
}

// addrWatch passes a program's log lines on and picks the address out of
// its ready line (JSON or text format).
type addrWatch struct {
	out   io.Writer
	ready string
	mu    sync.Mutex
	addr  string
	seen  chan struct{}
	once  sync.Once
}

func newAddrWatch(out io.Writer, ready string) *addrWatch {
	return &addrWatch{out: out, ready: ready, seen: make(chan struct{})}
}

func (w *addrWatch) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		if a := attr(line, "addr"); a != "" {
			w.mu.Lock()
			w.addr = a
			w.mu.Unlock()
		}
		if bytes.Contains(line, []byte(w.ready)) {
			w.once.Do(func() { close(w.seen) })
		}
	}
	return w.out.Write(p)
}

func (w *addrWatch) wait(ctx context.Context, failed <-chan error) (string, error) {
	select {
	case <-w.seen:
		w.mu.Lock()
		defer w.mu.Unlock()
		return "http://" + w.addr, nil
	case err := <-failed:
		return "", err
	case <-time.After(30 * time.Second):
		return "", errors.New("a program did not start within 30s")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// attr reads attribute key from a JSON or logfmt log line.
func attr(line []byte, key string) string {
	var rec map[string]any
	if json.Unmarshal(line, &rec) == nil {
		s, _ := rec[key].(string)
		return s
	}
	for _, f := range bytes.Fields(line) {
		if k, v, ok := bytes.Cut(f, []byte("=")); ok && string(k) == key {
			return string(v)
		}
	}
	return ""
}

// lockedWriter serialises writes from several goroutines; over a
// bytes.Buffer (the demo's logs, shown only if it fails) String reads it safely.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.w.(fmt.Stringer); ok {
		return s.String()
	}
	return ""
}
