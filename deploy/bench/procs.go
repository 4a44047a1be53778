package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redistest"
)

// buildPrograms compiles into dir the real api and worker, from the
// service's module at the repository root, and from the bench's own module
// (deploy/bench) the bench itself, for its bare gin mode, and the naive peer.
func buildPrograms(dir string) (map[string]string, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	bench := filepath.Join(root, "deploy", "bench")
	bins := map[string]string{}
	for name, src := range map[string]struct{ dir, pkg string }{
		"api": {root, "./api"}, "worker": {root, "./worker"}, "bench": {bench, "."}, "naive": {bench, "./naive"},
	} {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", out, src.pkg)
		cmd.Dir = src.dir
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s (in %s): %v\n%s", src.pkg, src.dir, err, b)
		}
		bins[name] = out
	}
	return bins, nil
}

// repoRoot is the repository root: the nearest directory, from the working
// directory up, whose go.mod is the service's module wxnotify (deploy/bench
// has a go.mod of its own).
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && modulePath(b) == "wxnotify" {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no go.mod of module wxnotify in %s or above: run the bench inside the repository", wd)
		}
	}
}

// modulePath is the path a go.mod's module directive names.
func modulePath(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// proc is a child process of the benchmark.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
}

// startProc runs bin with env (and the benchmark's PATH) and waits for
// its /healthz on addr.
func startProc(ctx context.Context, name, bin string, args []string, env map[string]string, addr string, logDir string) (*proc, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logFile, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, addr: addr}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not answer /healthz on %s within 20s (log: %s)", name, addr, logFile.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func (p *proc) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// stop sends SIGTERM and waits.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// freeAddr picks a free loopback port.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// captureProfiles starts CPU profiles of the given processes (name → pprof
// address) and returns a function that waits for them to be written to dir.
func captureProfiles(dir, phase string, procs map[string]string, d time.Duration) func() error {
	errs := make(chan error, len(procs))
	for name, addr := range procs {
		go func() {
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(dir, phase+"-"+name+".cpu.pprof"))
			if err == nil {
				_, err = io.Copy(f, resp.Body)
				f.Close()
			}
			errs <- err
		}()
	}
	return func() error {
		for range procs {
			if err := <-errs; err != nil {
				return fmt.Errorf("profile: %w", err)
			}
		}
		return nil
	}
}

// cpuSeconds reads the CPU time used so far by Redis, the api, the workers
// together, and this process (the sandbox and the load generator).
func cpuSeconds(ctx context.Context, rdb *redis.Client, api *proc, workers []*proc) map[string]float64 {
	out := map[string]float64{"api": procCPU(api.cmd.Process.Pid), "bench": procCPU(os.Getpid())}
	for _, w := range workers {
		out["workers"] += procCPU(w.cmd.Process.Pid)
	}
	info, _ := rdb.Info(ctx, "cpu").Result()
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			out["redis"] += f
		}
	}
	return out
}

// procCPU is a process's user+system CPU seconds from /proc/<pid>/stat.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after ") ".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 Hz on Linux
}

// startRedis starts the bench's own redis-server on a unix socket, which
// wxnotify's phases use, and on a loopback TCP port, which the comparison
// uses for both parties (the naive peer's silenceper cache speaks TCP only).
// A port taken between choosing and binding it is chosen again.
func startRedis() (*redistest.Server, error) {
	var err error
	for range 5 {
		_, port, _ := net.SplitHostPort(freeAddr())
		p, _ := strconv.Atoi(port)
		var srv *redistest.Server
		if srv, err = redistest.Start(redistest.Config{Databases: 2, Port: p}); err == nil {
			return srv, nil
		}
		if !strings.Contains(err.Error(), "already in use") {
			break
		}
	}
	return nil, fmt.Errorf("start redis-server: %w", err)
}
