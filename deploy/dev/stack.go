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

// stack is the running dev system.
type stack struct {
	env        map[string]string
	apiURL     string
	workerURL  string
	sandboxURL string // "" when WECHAT_BASE_URL points elsewhere
	sandbox    *sandbox.Sandbox
	redis      string // "embedded" or the REDIS_URL given
	failed     chan error
	stop       func()
}

// start brings up Redis, the sandbox, the API and the worker.
func start(ctx context.Context, getenv func(string) string, logs io.Writer, demo bool) (*stack, error) {
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
	st := &stack{env: env, failed: make(chan error, 3), redis: env["REDIS_URL"]}
	var wg sync.WaitGroup
	var closers []func()
	st.stop = func() {
		cancel()
		wg.Wait()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
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
		url, sb, closeSandbox, err := startSandbox(env, logs)
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
	if err == nil && st.sandbox != nil && env["WECHAT_PUSH_TOKEN"] != "" {
		// The sandbox pushes popup, change and sent events to the API, as WeChat would.
		err = st.sandbox.SetPush(sandbox.Push{URL: st.apiURL + "/v1/wx/events", Token: env["WECHAT_PUSH_TOKEN"], AESKey: env["WECHAT_PUSH_AES_KEY"]})
	}
	if err != nil {
		st.stop()
		return nil, err
	}
	return st, nil
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

func startSandbox(env map[string]string, logs io.Writer) (string, *sandbox.Sandbox, func(), error) {
	sb, err := sandbox.New(sandbox.Config{
		AppID: env["WECHAT_APPID"], AppSecret: env["WECHAT_APP_SECRET"], Templates: sandbox.DefaultTemplates(),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
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
