package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Worker is the delivery worker's configuration.
type Worker struct {
	Redis   Redis
	WeChat  WeChat
	Logging Logging

	// HTTPAddr serves /healthz, /readyz and /metrics.
	HTTPAddr string `env:"WORKER_HTTP_ADDR" envDefault:":9090"`
	// Concurrency is how many notifications one worker sends at once.
	Concurrency int `env:"WORKER_CONCURRENCY" envDefault:"50"`
	// Queues are asynq queues with priorities, "name:weight,…".
	Queues string `env:"WORKER_QUEUES" envDefault:"notifications:1"`
	// TaskCheckInterval is how long an idle worker waits before looking for
	// work again: the idle pickup latency (asynq's default, 1 s, idles up to
	// 1.5 s; 10 ms costs about 290 Redis commands a second per idle worker).
	TaskCheckInterval time.Duration `env:"TASK_CHECK_INTERVAL" envDefault:"10ms"`
	// DelayedTaskCheckInterval is how often retries and scheduled (send_at)
	// notifications are moved to the queue; asynq's 5 s default would run
	// each of them up to 5 s late.
	DelayedTaskCheckInterval time.Duration `env:"DELAYED_TASK_CHECK_INTERVAL" envDefault:"100ms"`
	// ShutdownTimeout is how long SIGTERM waits for sends in flight before
	// requeueing them; keep it below the container's grace period.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	// RetryBase and RetryCap shape the back-off of transient failures:
	// base·2^n with ±10 % jitter, at most cap.
	RetryBase time.Duration `env:"RETRY_BASE" envDefault:"1s"`
	RetryCap  time.Duration `env:"RETRY_CAP" envDefault:"1h"`
	// SendRate bounds subscribeMessage.send per second for the appid, across
	// every worker (burst the same).
	SendRate int `env:"SEND_RATE_PER_SECOND" envDefault:"500"`
	// Retention is how long a finished notification's record is kept;
	// match the API's NOTIFICATION_RETENTION.
	Retention time.Duration `env:"NOTIFICATION_RETENTION" envDefault:"168h"`
	// SentEvents links each delivered msgid for WeChat's
	// subscribe_msg_sent_event, which the api receives when message push is
	// on (WECHAT_PUSH_TOKEN). Without push the link only waits out its hour:
	// false spares a Redis call and ~170 bytes for that hour per message.
	SentEvents bool `env:"WECHAT_SENT_EVENTS" envDefault:"true"`
}

// LoadWorker reads and checks the worker's configuration.
func LoadWorker(getenv func(string) string) (Worker, error) {
	c, err := load[Worker](getenv)
	if err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c Worker) validate() error {
	var p problems
	c.Redis.validate(&p)
	c.WeChat.validate(&p)
	c.Logging.validate(&p)
	p.checkAddr("WORKER_HTTP_ADDR", c.HTTPAddr)
	if c.Concurrency < 1 || c.Concurrency > 10_000 {
		p.add("WORKER_CONCURRENCY", "%d is not between 1 and 10000", c.Concurrency)
	}
	if _, err := c.QueueWeights(); err != nil {
		p.add("WORKER_QUEUES", "%v", err)
	}
	for name, d := range map[string]time.Duration{
		"TASK_CHECK_INTERVAL": c.TaskCheckInterval, "DELAYED_TASK_CHECK_INTERVAL": c.DelayedTaskCheckInterval,
		"SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "RETRY_BASE": c.RetryBase, "RETRY_CAP": c.RetryCap,
		"NOTIFICATION_RETENTION": c.Retention,
	} {
		p.checkPositive(name, d)
	}
	if c.RetryCap < c.RetryBase {
		p.add("RETRY_CAP", "%s is below RETRY_BASE %s", c.RetryCap, c.RetryBase)
	}
	if c.SendRate < 1 {
		p.add("SEND_RATE_PER_SECOND", "%d must be at least 1", c.SendRate)
	}
	return p.err()
}

// QueueWeights parses Queues.
func (c Worker) QueueWeights() (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(c.Queues, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(w)
		if !ok || name == "" || err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not name:weight (e.g. notifications:1)", part)
		}
		out[name] = n
	}
	return out, nil
}

// LogValue shows the configuration with its secrets masked.
func (c Worker) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("redis", c.Redis.Target().String()),
		slog.String("wechat_appid", c.WeChat.AppID),
		slog.String("wechat_base_url", c.WeChat.BaseURL),
		slog.String("http_addr", c.HTTPAddr),
		slog.Int("concurrency", c.Concurrency),
		slog.String("queues", c.Queues),
		slog.String("task_check_interval", c.TaskCheckInterval.String()),
		slog.String("delayed_task_check_interval", c.DelayedTaskCheckInterval.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.Int("send_rate_per_second", c.SendRate),
	)
}
