package program

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWorkerHealthMetricsAndLogLines(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	w := s.workers[0]
	user := s.user(1, 1)
	id := s.notify(user, "order-obs", nil)
	s.waitState(id, "completed", 10*time.Second)
	skipped := s.notify(s.user(0, 0), "order-obs-2", nil)
	s.waitState(skipped, "completed", 10*time.Second)

	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, w.addr+path); code != 200 {
			t.Fatalf("worker %s: %d %s", path, code, body)
		}
		// Load balancers probe with HEAD.
		resp, err := http.Head(w.addr + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("worker HEAD %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	_, metrics := get(t, w.addr+"/metrics")
	for _, want := range []string{
		`wxnotify_deliveries_total{app="default",outcome="delivered",template="order_arrived"} 1`,
		`wxnotify_deliveries_total{app="default",outcome="skipped_no_grant",template="order_arrived"} 1`,
		`wxnotify_wechat_call_duration_seconds_count{app="default",endpoint="subscribe_send",errcode="0"} 1`,
		`wxnotify_wechat_call_duration_seconds_count{app="default",endpoint="stable_token",errcode="0"} 1`,
		`wxnotify_token_fetches_total{app="default",result="ok"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("worker /metrics lacks %s", want)
		}
	}

	// One line per outcome, with the task, template, dedupe key and attempt,
	// and the openid masked; the access token never.
	var delivered map[string]any
	for _, line := range strings.Split(w.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "notification delivered" {
			delivered = rec
		}
	}
	if delivered == nil || delivered["task_id"] != id || delivered["dedupe_key"] != "order-obs" || delivered["attempt"] != float64(1) ||
		delivered["template"] != "order_arrived" || delivered["openid"] != "…"+user[len(user)-4:] {
		t.Fatalf("delivered log line %v", delivered)
	}
	logs := w.logs.String() + s.api.logs.String()
	if strings.Contains(logs, user) {
		t.Error("a full openid is in the logs")
	}
	for _, tok := range tokensIssued(t, s) {
		if strings.Contains(logs, tok) {
			t.Error("the access_token is in the logs")
		}
	}
}

// tokensIssued asks the sandbox for a token: normal mode hands out the
// current one, which is the one the worker used.
func tokensIssued(t *testing.T, s *stack) []string {
	t.Helper()
	resp, err := http.Post(s.sb.URL+"/cgi-bin/stable_token", "application/json", strings.NewReader(
		`{"grant_type":"client_credential","appid":"`+s.env["WECHAT_APPID"]+`","secret":"`+s.env["WECHAT_APP_SECRET"]+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if out.AccessToken == "" {
		t.Fatal("no token from the sandbox")
	}
	return []string{out.AccessToken}
}

// SIGTERM (context cancelled) with sends in flight: they finish, nothing is
// lost or sent twice, and the worker exits.
func TestWorkerShutdownFinishesInFlightSends(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, func(c *sandbox.Config) { c.Faults.Latency = sandbox.Duration(300 * time.Millisecond) })
	var ids []string
	for i := range 5 {
		ids = append(ids, s.notify(s.user(1, 1), "order-stop-"+string(rune('a'+i)), nil))
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.workers[0].logs.String(), "access_token fetched") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // sends under way in the sandbox's latency
	if err := s.workers[0].stop(); err != nil {
		t.Fatalf("worker stop: %v", err)
	}
	// A fresh worker picks up whatever was left.
	launch(t, Worker, s.env, "worker running")
	for _, id := range ids {
		s.waitState(id, "completed", 10*time.Second)
	}
	if n := len(s.sb.Messages("", "")); n != 5 {
		t.Fatalf("%d messages for 5 notifications across a shutdown; want 5", n)
	}
}
