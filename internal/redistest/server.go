// Package redistest runs a private redis-server for a test package and lends
// each test its own logical database on it, so that tests exercise real Redis
// in parallel without sharing state or touching the machine's shared server.
//
// A package opts in with
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// and each test calls New(t) for a client on a flushed database of its own.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process listening on a unix socket in a
// temporary directory, keeping nothing on disk unless asked to.
type Server struct {
	// Socket is the unix socket path clients connect to.
	Socket string
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
	// AppendOnly turns AOF persistence on (everysec), for tests that restart
	// Redis and expect data to survive.
	AppendOnly bool
	// Dir is where the socket, log and data live; a fresh temporary directory when empty.
	Dir string
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
func Start(cfg Config) (*Server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	if cfg.Databases <= 0 {
		cfg.Databases = 16
	}
	dir := cfg.Dir
	if dir == "" {
		// os.MkdirTemp rather than t.TempDir: unix socket paths must stay
		// under ~100 bytes, and test temp dirs can be much longer.
		if dir, err = os.MkdirTemp("", "redistest"); err != nil {
			return nil, fmt.Errorf("redistest: temp dir: %w", err)
		}
	}
	s := &Server{Socket: filepath.Join(dir, "redis.sock"), Dir: dir}
	appendOnly := "no"
	if cfg.AppendOnly {
		appendOnly = "yes"
	}
	s.args = []string{
		"--port", "0",
		"--unixsocket", s.Socket,
		"--unixsocketperm", "700",
		"--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"),
		"--save", "",
		"--appendonly", appendOnly,
		"--appendfsync", "everysec",
		"--databases", strconv.Itoa(cfg.Databases),
		"--maxmemory-policy", "noeviction",
	}
	if err := s.launch(bin); err != nil {
		return nil, err
	}
	return s, nil
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
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.Socket, MaxRetries: -1})
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
			return fmt.Errorf("redistest: redis-server exited before answering (%v); its log: %s", s.waitErr, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			return fmt.Errorf("redistest: redis-server did not answer PING within %s: %v; its log: %s", limit, err, s.logTail())
		}
		time.Sleep(10 * time.Millisecond)
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
