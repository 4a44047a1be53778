package program

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox/sandboxtest"
)

// A full flow at debug level — logins, grants, deliveries, a 43101, a
// retired token, a refused API key — and not one log line of the api or
// the worker holds the app secret, an access_token, a session_key, an API
// key, a session token or a whole openid.
func TestLogsLeakNoSecret(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	var openids []string
	for i := range 3 {
		openids = append(openids, s.user(1, 1))
		s.waitState(s.notify(openids[i], "leak-"+string(rune('a'+i)), nil), "completed", 10*time.Second)
		if i == 0 {
			s.sb.RetireTokens()
		}
	}
	nogrant := s.user(0, 1) // WeChat answers 43101
	s.waitState(s.notify(nogrant, "leak-43101", nil), "completed", 10*time.Second)
	openids = append(openids, nogrant)
	if st, _ := s.call("POST", "/v1/notifications", "wrong-key-but-long-enough", map[string]any{}); st != 401 {
		t.Fatalf("wrong key: %d", st)
	}

	logs := s.api.logs.String() + s.workers[0].logs.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Fatal("the programs did not log at debug level; the test would prove little")
	}
	secrets := map[string]string{"app secret": sandboxtest.AppSecret, "API key": e2eKey, "wrong API key": "wrong-key-but-long-enough"}
	for i, v := range s.sb.Secrets() {
		secrets[fmt.Sprint("issued token or session key ", i)] = v
	}
	for i, o := range openids {
		secrets[fmt.Sprint("openid ", i)] = o
	}
	found := 0
	for name, v := range secrets {
		if v != "" && strings.Contains(logs, v) {
			t.Errorf("the logs contain the %s", name)
			found++
		}
	}
	t.Logf("FIGURE secrets: %d log lines at debug level from api and worker, %d secrets searched, %d found",
		strings.Count(logs, "\n"), len(secrets), found)
}
