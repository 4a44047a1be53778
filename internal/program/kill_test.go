package program

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
)

// binaries builds the real programs once for the tests that run them as
// processes (to kill them, or to run them beside a Redis topology).
var binaries = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "wxnotify-bin")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./api", "./worker")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./api ./worker: %v\n%s", err, out)
	}
	return dir, nil
})

// programBinary is the path of the built api or worker.
func programBinary(t *testing.T, name string) string {
	t.Helper()
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// startWorkerProcess runs the built worker with the stack's environment.
func startWorkerProcess(t *testing.T, s *stack, name string) *process {
	t.Helper()
	return startProcess(t, "worker", name, s.env, map[string]string{"LOG_LEVEL": "info"})
}

// process is a program running as a process of its own.
type process struct {
	cmd  *exec.Cmd
	addr string // its HTTP address, host:port
	out  *logWriter
	// exited is closed once the process has exited, with its status in err.
	exited chan struct{}
	err    error
}

// signal sends sig to the process.
func (p *process) signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// wait waits for the process to exit and returns how it did.
func (p *process) wait() error {
	<-p.exited
	return p.err
}

// logs is everything the process has written so far.
func (p *process) logs() string { return p.out.String() }

// startProcess runs the built program ("api" or "worker") with env and
// overrides (LOG_LEVEL at most info: its "listening" line names the
// address), and waits until it answers /readyz. It listens on a port the
// kernel picks: a port picked by the test and passed on could be taken by
// another test's process in between, and /readyz would then be answered by
// that one.
func startProcess(t *testing.T, prog, name string, env, overrides map[string]string) *process {
	t.Helper()
	addrVar := map[string]string{"api": "HTTP_ADDR", "worker": "WORKER_HTTP_ADDR"}[prog]
	p := &process{out: &logWriter{seen: make(chan struct{}, 1), want: prog + " listening"}}
	p.cmd = exec.Command(programBinary(t, prog))
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), addrVar + "=127.0.0.1:0"}
	for k, v := range env {
		if o, ok := overrides[k]; ok {
			v = o
		}
		if k != addrVar {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
	}
	for k, v := range overrides {
		if _, ok := env[k]; !ok {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.wait()
		keepLogsOfFailure(t, p.logs())
	})
	const limit = 20 * time.Second
	select {
	case <-p.out.seen:
	case <-p.exited:
		t.Fatalf("%s exited before listening: %v\n%s", name, p.err, p.logs())
	case <-time.After(limit):
		t.Fatalf("%s did not listen within %s:\n%s", name, limit, p.logs())
	}
	p.addr = p.out.addr()
	deadline := time.Now().Add(limit)
	for {
		if resp, err := http.Get("http://" + p.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s:\n%s", name, limit, p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two worker processes, 1,000 notifications queued, one worker SIGKILLed
// mid-load and replaced at once (as an orchestrator does): every
// notification is delivered, none lost, none sent twice (each user holds
// one grant, so a second send would be refused, never shown twice).
//
// asynq recovers a dead worker's tasks by their lease: 30 s after its last
// heartbeat the lease has expired, and a recoverer scan — at a worker's
// start and every minute after — takes tasks expired for another 30 s. The
// replacement's first periodic scan, a minute after it started, is
// therefore the latest moment the orphans can be recovered; the deadline is
// that, plus the slack of a busy machine.
func TestFaultWorkerKilledMidLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq to recover the killed worker's tasks (about a minute)")
	}
	t.Parallel()
	const n = 1000
	s := newStackEnv(t, 0, nil, func(c *sandbox.Config) { c.Faults.Latency = sandbox.Duration(20 * time.Millisecond) })
	users := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		users[i] = s.user(1, 1)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.notify(users[i], fmt.Sprintf("kill-%d", i), nil)
		})
	}
	wg.Wait()
	// WeChat Pay orders shipped through the order channel alongside.
	orders := s.shipOrders(n/5, "kill")
	victim := startWorkerProcess(t, s, "worker-0")
	startWorkerProcess(t, s, "worker-1")
	for len(s.sb.Messages("", "")) < n/4 {
		time.Sleep(time.Millisecond)
	}
	killed := time.Now()
	if err := victim.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deliveredAtKill := len(s.sb.Messages("", ""))
	startWorkerProcess(t, s, "worker-replacement")
	replaced := time.Now()

	deadline := replaced.Add(time.Minute + 15*time.Second)
	for {
		got := map[string]int{}
		for _, m := range s.sb.Messages("", "") {
			got[m.OpenID]++
		}
		if len(got) == n {
			dups := len(s.sb.Messages("", "")) - n
			t.Logf("FIGURE worker killed: %d notifications, %d delivered before the SIGKILL, all %d delivered (0 lost), %d duplicates, last orphan delivered %s after the kill",
				n, deliveredAtKill, n, dups, time.Since(killed).Round(100*time.Millisecond))
			if dups != 0 {
				t.Fatalf("%d messages shown twice", dups)
			}
			if deliveredAtKill > n-20 {
				t.Fatalf("only %d notifications were left when the worker died: the test did not kill mid-load", n-deliveredAtKill)
			}
			// The shipments share the killed worker's fate and asynq's
			// recoverer: the same deadline.
			orders.remind("kill", time.Until(deadline)+15*time.Second)
			uploads, reminders, lost := orders.check()
			t.Logf("FIGURE worker killed, order channel: %d orders shipped across the SIGKILL and reminded: %d duplicate uploads, %d duplicate reminders, %d lost",
				len(orders.accepted), uploads, reminders, lost)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d users received their message %s after the kill (the replacement's first recoverer scan was due a minute after its start)",
				len(got), n, time.Since(killed).Round(time.Second))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SIGTERM to a busy worker process: it finishes its sends, exits 0, and
// nothing is lost or sent twice (a second worker takes what was queued).
func TestFaultWorkerSIGTERMWhileBusy(t *testing.T) {
	t.Parallel()
	const n = 200
	s := newStackEnv(t, 0, nil, func(c *sandbox.Config) { c.Faults.Latency = sandbox.Duration(50 * time.Millisecond) })
	users := make([]string, n)
	for i := range n {
		users[i] = s.user(1, 1)
	}
	for i := range n {
		s.notify(users[i], fmt.Sprintf("term-%d", i), nil)
	}
	busy := startWorkerProcess(t, s, "worker-busy")
	for len(s.sb.Messages("", "")) < n/5 {
		time.Sleep(time.Millisecond)
	}
	if err := busy.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := busy.wait(); err != nil {
		t.Fatalf("worker after SIGTERM: %v (want a clean exit)", err)
	}
	stopped, atStop := time.Since(start), len(s.sb.Messages("", ""))
	startWorkerProcess(t, s, "worker-next")
	deadline := time.Now().Add(30 * time.Second)
	for len(s.sb.Messages("", "")) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := map[string]int{}
	for _, m := range s.sb.Messages("", "") {
		got[m.OpenID]++
	}
	dups := len(s.sb.Messages("", "")) - len(got)
	t.Logf("FIGURE SIGTERM: worker exited cleanly %s after SIGTERM with %d of %d delivered; the next worker delivered the rest: %d/%d, %d duplicates",
		stopped.Round(time.Millisecond), atStop, n, len(got), n, dups)
	if len(got) != n || dups != 0 {
		t.Fatalf("%d of %d users got their message, %d duplicates; want all, none", len(got), n, dups)
	}
	if atStop == n {
		t.Fatal("everything was delivered before the worker stopped: the test did not stop it while busy")
	}
}
