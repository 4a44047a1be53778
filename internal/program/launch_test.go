package program

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// programFunc is API or Worker.
type programFunc func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// running is a program started in-process by launch.
type running struct {
	addr string     // from its "… listening" line
	logs *logWriter // everything it logged
	stop func() error
}

// launch runs prog with env until the test ends (or stop is called) and
// waits for its log line ready; the address comes from the line with an
// "addr" attribute.
func launch(t *testing.T, prog programFunc, env map[string]string, ready string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logWriter{seen: make(chan struct{}, 1), want: ready}
	done := make(chan error, 1)
	go func() { done <- prog(ctx, func(k string) string { return env[k] }, logs) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("program did not stop within 30s of its context ending")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	t.Cleanup(func() { keepLogsOfFailure(t, logs.String()) })
	select {
	case <-logs.seen:
	case err := <-done:
		t.Fatalf("program exited before %q: %v\n%s", ready, err, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("program did not log %q within 20s:\n%s", ready, logs.String())
	}
	return &running{addr: "http://" + logs.addr(), logs: logs, stop: stop}
}

// logWriter keeps a program's JSON log lines and signals the ready line.
type logWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	at   string
	// partial is the start of a line not ended yet.
	partial []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	// A process's output arrives in chunks that may cut a line: only whole
	// lines are read, the rest waits for the next chunk.
	w.partial = append(w.partial, p...)
	end := bytes.LastIndexByte(w.partial, '\n')
	if end < 0 {
		return len(p), nil
	}
	lines := bytes.Split(w.partial[:end], []byte("\n"))
	w.partial = append([]byte(nil), w.partial[end+1:]...)
	for _, line := range lines {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if rec.Addr != "" {
			w.at = rec.Addr
		}
		if rec.Msg == w.want {
			select {
			case w.seen <- struct{}{}:
			default:
			}
		}
	}
	return len(p), nil
}

func (w *logWriter) addr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// keepLogsOfFailure shows the end of a failed test's program log, and all of
// it in a file when WXNOTIFY_TEST_LOGS names a directory.
func keepLogsOfFailure(t *testing.T, logs string) {
	if !t.Failed() {
		return
	}
	if dir := os.Getenv("WXNOTIFY_TEST_LOGS"); dir != "" {
		f, err := os.CreateTemp(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-*.log")
		if err == nil {
			_, _ = f.WriteString(logs)
			_ = f.Close()
			t.Logf("program log in %s", f.Name())
			return
		}
	}
	lines := strings.Split(logs, "\n")
	t.Logf("program log, last 60 of %d lines:\n%s", len(lines), strings.Join(lines[max(0, len(lines)-60):], "\n"))
}
