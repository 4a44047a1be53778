package program

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wxnotify/internal/httpapi/contract"
	"wxnotify/internal/redistest"
	"wxnotify/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func envFunc(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// baseEnv is a working configuration against a lent database and a sandbox.
func baseEnv(t *testing.T) map[string]string {
	sb := sandboxtest.Start(t)
	return map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "REDIS_URL": redistest.Lend(t).URL(),
		"WECHAT_APPID": sandboxtest.AppID, "WECHAT_APP_SECRET": sandboxtest.AppSecret, "WECHAT_BASE_URL": sb.URL,
		"API_KEYS": "order-service-key-0001", "ADMIN_USER": "ops", "ADMIN_PASSWORD": "dashboard-password-1",
		"LOG_LEVEL": "debug",
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	t.Parallel()
	api := launch(t, API, baseEnv(t), "api listening")
	url := api.addr
	client := contract.Client(t, 0) // every answer held to openapi.yaml
	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/metrics"} {
		resp, err := client.Get(url + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest("POST", url+"/v1/notifications", strings.NewReader(
		`{"template":"order_arrived","user_id":"u-1","dedupe_key":"o-1","data":{"item_name":"面","order_id":"A1","arrived_at":"2026-11-24T15:01:00+08:00","pickup_location":"前台"}}`))
	req.Header.Set("Authorization", "Bearer order-service-key-0001")
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("POST /v1/notifications: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	// asynq's queue collector reports the queue.
	resp, _ = client.Get(url + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `asynq_tasks_enqueued_total{queue="notifications",state="pending"} 1`) {
		t.Fatalf("/metrics lacks asynq's queue metrics:\n%s", grep(string(b), "asynq_"))
	}
	if err := api.stop(); err != nil {
		t.Fatalf("run after shutdown: %v", err)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Bad configuration stops the start with a message naming the variable.
func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "templates.yaml")
	if err := os.WriteFile(bad, []byte("templates:\n  x:\n    template_id: T\n    kind: one_time\n    keywords:\n      thing5: {default: hi}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change map[string]string
		want   string
	}{
		{map[string]string{"API_KEYS": ""}, `API_KEYS: required`},
		{map[string]string{"TEMPLATES_FILE": bad}, `TEMPLATES_FILE: `},
		{map[string]string{"TEMPLATES_FILE": "/nonexistent/templates.yaml"}, "TEMPLATES_FILE: "},
		{map[string]string{"HTTP_ADDR": "256.0.0.1:1"}, "HTTP_ADDR"},
	} {
		env := baseEnv(t)
		for k, v := range tc.change {
			env[k] = v
		}
		err := API(context.Background(), envFunc(env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want %q", tc.change, err, tc.want)
		}
	}
}
