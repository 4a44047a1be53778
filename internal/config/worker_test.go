package config_test

import (
	"strings"
	"testing"
	"time"

	"wxnotify/internal/config"
)

func workerEnv(extra map[string]string) func(string) string {
	m := map[string]string{"WECHAT_APPID": "wx0123456789abcdef", "WECHAT_APP_SECRET": "app-secret-value"}
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func TestLoadWorker(t *testing.T) {
	t.Parallel()
	c, err := config.LoadWorker(workerEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	q := c.QueueWeights()
	if c.Concurrency != 50 || c.TaskCheckInterval != 10*time.Millisecond || c.DelayedTaskCheckInterval != 100*time.Millisecond || q["notifications"] != 1 || c.ShutdownTimeout != 20*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY"},
		{map[string]string{"RETRY_CAP": "1ms"}, "RETRY_CAP: 1ms is below RETRY_BASE"},
		{map[string]string{"TASK_CHECK_INTERVAL": "often"}, "TASK_CHECK_INTERVAL"},
		{map[string]string{"SEND_RATE_PER_SECOND": "0"}, "SEND_RATE_PER_SECOND"},
	} {
		if _, err := config.LoadWorker(workerEnv(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want %q", tc.env, err, tc.want)
		}
	}
}

const webhookSecret = "webhook-secret-of-32-bytes-00001"

// A webhook is a URL and a secret together: https (http to loopback only),
// the secret an HMAC key of at least 32 bytes; each problem names the
// variable, and none shows the secret or the URL's path and query.
func TestWorkerWebhook(t *testing.T) {
	t.Parallel()
	c, err := config.LoadWorker(workerEnv(map[string]string{"WEBHOOK_URL": "https://orders.example.com/hooks/wxnotify", "WEBHOOK_SECRET": webhookSecret}))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Apps[0]; !a.Webhook() || a.WebhookURL != "https://orders.example.com/hooks/wxnotify" || a.WebhookSecret.Reveal() != webhookSecret || len(c.WebhookApps()) != 1 || c.WebhookConcurrency != 20 {
		t.Fatalf("app %+v, webhook apps %v, concurrency %d", a, c.WebhookApps(), c.WebhookConcurrency)
	}
	if c, err := config.LoadWorker(workerEnv(nil)); err != nil || c.Apps[0].Webhook() || len(c.WebhookApps()) != 0 {
		t.Fatalf("without the variables: %v, %+v; want no webhook", err, c.Apps)
	}
	if _, err := config.LoadWorker(workerEnv(map[string]string{"WEBHOOK_URL": "http://127.0.0.1:8099/hook", "WEBHOOK_SECRET": webhookSecret})); err != nil {
		t.Fatalf("http to loopback: %v; want it accepted", err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WEBHOOK_URL": "https://orders.example.com/hook"}, "WEBHOOK_SECRET: required with the webhook's URL"},
		{map[string]string{"WEBHOOK_SECRET": webhookSecret}, "WEBHOOK_URL: required with the webhook's secret"},
		{map[string]string{"WEBHOOK_URL": "https://orders.example.com/hook", "WEBHOOK_SECRET": "too-short"}, "WEBHOOK_SECRET: 9 bytes; the HMAC-SHA256 key needs at least 32"},
		{map[string]string{"WEBHOOK_URL": "http://orders.example.com/hook?token=receiver-token", "WEBHOOK_SECRET": webhookSecret}, "WEBHOOK_URL: http://orders.example.com: https is required unless the host is loopback"},
		{map[string]string{"WEBHOOK_URL": "orders.example.com/hook", "WEBHOOK_SECRET": webhookSecret}, "WEBHOOK_URL: not an http(s) URL with a host"},
		{map[string]string{"WEBHOOK_CONCURRENCY": "0"}, "WEBHOOK_CONCURRENCY: 0 is not between 1 and 10000"},
	} {
		_, err := config.LoadWorker(workerEnv(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want %q", tc.env, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), webhookSecret) || strings.Contains(err.Error(), "receiver-token")) {
			t.Errorf("the error shows the secret or the URL's query: %v", err)
		}
	}
}
