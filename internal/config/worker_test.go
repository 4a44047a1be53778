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
