// Package redistest runs a private redis-server for a test package and lends
// each test its own logical database on it, so that tests exercise real Redis
// in parallel without sharing state or touching the machine's shared server.
//
// A package opts in with
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// and each test calls New(t) for a client on a flushed database of its own.
//
// Tests that kill Redis start their own: StartServer for one server,
// StartCluster for a six-node Redis Cluster, StartSentinel for a master and
// replica behind three sentinels, each able to wait for a failover.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process listening on a unix socket in a
// temporary directory (and on 127.0.0.1 when given a port), keeping nothing
// on disk unless asked to.
type Server struct {
	// Socket is the unix socket path clients connect to.
	Socket string
	// Addr is "127.0.0.1:port" when the server listens on TCP, else empty.
	Addr string
	// Dir is the server's working directory (logs, and AOF files when enabled).
	Dir string

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has exited
	waitErr error         // the exit status, readable once exited is closed
	args    []string
}

// Config tunes a server started with Start.
type Config struct {
	// Databases is how many logical databases the server has.
	Databases int
	// AppendOnly turns AOF persistence on, for tests that restart Redis and
	// expect data to survive.
	AppendOnly bool
	// AppendFsync is the AOF fsync policy: "everysec" when empty, or
	// "always" (or "no").
	AppendFsync string
	// Dir is where the socket, log and data live; a fresh temporary directory when empty.
	Dir string
	// Port, when positive, makes the server listen on 127.0.0.1:Port as well
	// as on its socket (replicas, Sentinel and Cluster talk TCP); see FreePort.
	Port int
	// Extra are further redis-server arguments, appended to the command
	// line ("--replicaof", "127.0.0.1", "6380").
	Extra []string
}

// installHint is what a developer or CI needs to read when redis-server is missing.
const installHint = "redis-server not found on PATH: install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`; macOS: `brew install redis`) or set REDIS_SERVER to its path; .ci/run installs it automatically"

// binary finds the redis-server executable: $REDIS_SERVER, else on PATH.
func binary() (string, error) { return findBinary(os.Getenv, exec.LookPath) }

func findBinary(getenv func(string) string, lookPath func(string) (string, error)) (string, error) {
	if p := getenv("REDIS_SERVER"); p != "" {
		return p, nil
	}
	p, err := lookPath("redis-server")
	if err != nil {
		return "", errors.New(installHint)
	}
	return p, nil
}

// Start launches a redis-server and waits until it answers PING.
// The caller must Stop it.
func Start(cfg Config) (*Server, error) { return start(cfg, "") }

// start is Start with an optional configuration file, which redis-server
// must be given first (Sentinel needs one it can rewrite).
func start(cfg Config, confFile string) (*Server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	if cfg.Databases <= 0 {
		cfg.Databases = 16
	}
	if cfg.AppendFsync == "" {
		cfg.AppendFsync = "everysec"
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = tempDir(); err != nil {
			return nil, err
		}
	}
	s := &Server{Socket: filepath.Join(dir, "redis.sock"), Dir: dir}
	appendOnly := "no"
	if cfg.AppendOnly {
		appendOnly = "yes"
	}
	if confFile != "" {
		s.args = append(s.args, confFile)
	}
	port := []string{"--port", "0"}
	if cfg.Port > 0 {
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port))
		port = []string{"--port", strconv.Itoa(cfg.Port), "--bind", "127.0.0.1"}
	}
	s.args = append(s.args, port...)
	s.args = append(s.args,
		"--unixsocket", s.Socket,
		"--unixsocketperm", "700",
		"--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"),
		"--save", "",
		"--appendonly", appendOnly,
		"--appendfsync", cfg.AppendFsync,
		"--databases", strconv.Itoa(cfg.Databases),
		"--maxmemory-policy", "noeviction",
	)
	s.args = append(s.args, cfg.Extra...)
	if err := s.launch(bin); err != nil {
		if cfg.Dir == "" {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	return s, nil
}

// tempDir makes a fresh directory for a server.
func tempDir() (string, error) {
	// os.MkdirTemp rather than t.TempDir: unix socket paths must stay
	// under ~100 bytes, and test temp dirs can be much longer.
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		return "", fmt.Errorf("redistest: temp dir: %w", err)
	}
	return dir, nil
}

func (s *Server) launch(bin string) error {
	cmd := exec.Command(bin, s.args...)
	// Kill the server if the test binary dies without running its cleanup
	// (a panic, a -timeout), so no redis-server outlives its tests.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start %s: %w", bin, err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	s.exited = exited
	go func() { s.waitErr = cmd.Wait(); close(exited) }()
	return s.waitReady(10 * time.Second)
}

func (s *Server) waitReady(limit time.Duration) error {
	// One dial per attempt: this loop is the retry.
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.Socket, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			tail := s.logTail()
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("redistest: redis-server exited before answering (%v): %w; its log: %s", s.waitErr, errPortInUse, tail)
			}
			return fmt.Errorf("redistest: redis-server exited before answering (%v); its log: %s", s.waitErr, tail)
		default:
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			return fmt.Errorf("redistest: redis-server did not answer PING within %s: %v; its log: %s", limit, err, s.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// errPortInUse is why a server on a port chosen by FreePort failed to start
// when something else took the port in the meantime; callers pick another.
var errPortInUse = errors.New("port already in use")

// alive reports whether the server's process is running.
func (s *Server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// Options returns go-redis options for database db of this server.
func (s *Server) Options(db int) *redis.Options {
	return &redis.Options{Network: "unix", Addr: s.Socket, DB: db}
}

// URL returns a redis URL (unix://…?db=N) for database db, the form the
// programs read from REDIS_URL.
func (s *Server) URL(db int) string {
	return fmt.Sprintf("unix://%s?db=%d", s.Socket, db)
}

// Kill stops the server abruptly (SIGKILL), as a crash would.
func (s *Server) Kill() error {
	if err := s.cmd.Process.Kill(); err != nil {
		return err
	}
	<-s.exited
	return nil
}

// Terminate stops the server gracefully (SIGTERM: with AppendOnly the AOF
// is flushed) and keeps its directory for Restart.
func (s *Server) Terminate() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("redistest: redis-server did not stop within 10s of SIGTERM")
	}
}

// Restart starts the server again with the same settings and directory after
// Kill or Stop; with AppendOnly it comes back with its data.
func (s *Server) Restart() error {
	bin, err := binary()
	if err != nil {
		return err
	}
	_ = os.Remove(s.Socket)
	return s.launch(bin)
}

// Stop shuts the server down and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.exited
			}
		}
	}
	_ = os.RemoveAll(s.Dir)
}

// given holds the ports FreePort handed out in this process, so that two
// servers started at the same time never get the same one.
var given struct {
	sync.Mutex
	ports map[int]bool
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a moment
// ago, and that this process has not handed out before. Another process may
// still take it before the server binds it; the topologies here retry then.
func FreePort(t testing.TB) int {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

// freePorts picks n distinct free ports, holding all of them open at once
// so the kernel cannot hand out one twice.
func freePorts(n int) ([]int, error) {
	given.Lock()
	defer given.Unlock()
	if given.ports == nil {
		given.ports = map[int]bool{}
	}
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("redistest: pick a free port: %w", err)
		}
		held = append(held, l)
		p := l.Addr().(*net.TCPAddr).Port
		if given.ports[p] {
			continue
		}
		given.ports[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// startOnFreePorts starts a server in a fresh directory on n fresh free
// ports; setup turns them into its Config (the first one its Port, the rest
// for its own use) and an optional configuration file. A port taken by
// another process meanwhile costs a retry on other ports, not a failure.
func startOnFreePorts(n int, setup func(dir string, ports []int) (cfg Config, confFile string, err error)) (*Server, error) {
	const attempts = 3
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(n)
		if err != nil {
			return nil, err
		}
		dir, err := tempDir()
		if err != nil {
			return nil, err
		}
		cfg, conf, err := setup(dir, ports)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		cfg.Dir = dir
		s, err := start(cfg, conf)
		if err == nil {
			return s, nil
		}
		_ = os.RemoveAll(dir)
		if !errors.Is(err, errPortInUse) || attempt == attempts {
			return nil, err
		}
	}
}

// pollInterval is how often the topologies are polled while waiting on them.
const pollInterval = 20 * time.Millisecond

// callTimeout bounds each call made while polling, so that one stuck node
// delays a poll round by little.
const callTimeout = 300 * time.Millisecond

// waitFor calls check every pollInterval until it returns nil, and returns
// when that was first observed; after limit it returns check's last error.
func waitFor(limit time.Duration, check func() error) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, err
		}
		time.Sleep(pollInterval)
	}
}

// adminClient is a client on the server's socket for polling it: no
// retries, and short timeouts so a dead or stuck server answers quickly.
func adminClient(s *Server) *redis.Client {
	return redis.NewClient(&redis.Options{
		Network: "unix", Addr: s.Socket, MaxRetries: -1, DialerRetries: 1, PoolSize: 2,
		DialTimeout: callTimeout, ReadTimeout: callTimeout, WriteTimeout: callTimeout,
	})
}

// callCtx is the context for one polling call.
func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// infoField returns a field of an INFO reply ("role" → "master").
func infoField(info, key string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}

// logTails describes the last lines of each server's log, for errors.
func logTails(servers []*Server) string {
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "\n  %s (%s): %s", s.Addr, s.Dir, s.logTail())
	}
	return b.String()
}
