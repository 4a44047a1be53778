package config

import (
	"log/slog"
	"time"

	"wxnotify/internal/task"
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
	// AppsFile lists the mini programs served (apps.go); without it the
	// WECHAT_* variables and SEND_RATE_PER_SECOND describe the one app.
	AppsFile string `env:"APPS_FILE"`
	// Apps are the mini programs served: the worker takes every app's queue,
	// all with the same weight, so that one app's backlog cannot starve another.
	Apps []App `env:"-"`
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
	// WebhookURL and WebhookSecret are the single app's webhook: how each
	// notification ended, signed, to the order service (package webhook).
	// APPS_FILE sets them per app (webhook_url, webhook_secret).
	WebhookURL    string `env:"WEBHOOK_URL"`
	WebhookSecret Secret `env:"WEBHOOK_SECRET"`
	// WebhookConcurrency is how many webhook deliveries one worker makes at
	// once. They run on an asynq server of their own, beside the sends'
	// WORKER_CONCURRENCY, so that a slow receiver holds webhook slots only.
	WebhookConcurrency int `env:"WEBHOOK_CONCURRENCY" envDefault:"20"`
}

// LoadWorker reads and checks the worker's configuration.
func LoadWorker(getenv func(string) string) (Worker, error) {
	c, err := load[Worker](getenv)
	if err != nil {
		return c, err
	}
	var p problems
	c.Apps = loadApps(c.AppsFile, getenv, &p, "worker", App{
		Name: "default", AppID: c.WeChat.AppID, Secret: c.WeChat.AppSecret, Queue: task.QueueName, SendRate: c.SendRate,
		WebhookURL: c.WebhookURL, WebhookSecret: c.WebhookSecret,
	})
	c.validate(&p)
	return c, p.err()
}

func (c Worker) validate(p *problems) {
	c.Redis.validate(p)
	c.WeChat.validate(p)
	c.Logging.validate(p)
	p.checkAddr("WORKER_HTTP_ADDR", c.HTTPAddr)
	if c.Concurrency < 1 || c.Concurrency > 10_000 {
		p.add("WORKER_CONCURRENCY", "%d is not between 1 and 10000", c.Concurrency)
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
	if c.AppsFile == "" && c.SendRate < 1 {
		p.add("SEND_RATE_PER_SECOND", "%d must be at least 1", c.SendRate)
	}
	if c.AppsFile == "" {
		checkWebhook(p, setting{variable: "WEBHOOK_URL"}, setting{variable: "WEBHOOK_SECRET"}, c.WebhookURL, c.WebhookSecret)
	}
	if c.WebhookConcurrency < 1 || c.WebhookConcurrency > 10_000 {
		p.add("WEBHOOK_CONCURRENCY", "%d is not between 1 and 10000", c.WebhookConcurrency)
	}
}

// WebhookApps are the apps with a webhook.
func (c Worker) WebhookApps() []App {
	var out []App
	for _, a := range c.Apps {
		if a.Webhook() {
			out = append(out, a)
		}
	}
	return out
}

// QueueWeights are the apps' queues, each with weight 1: asynq then picks
// among the queues with work in a random order at every dequeue, so each
// app with a backlog gets an equal share of the workers.
func (c Worker) QueueWeights() map[string]int {
	out := make(map[string]int, len(c.Apps))
	for _, a := range c.Apps {
		out[a.Queue] = 1
	}
	return out
}

// LogValue shows the configuration with its secrets masked.
func (c Worker) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("redis", c.Redis.Target().String()),
		slog.Any("apps", AppNames(c.Apps)),
		slog.String("wechat_base_url", c.WeChat.BaseURL),
		slog.String("http_addr", c.HTTPAddr),
		slog.Int("concurrency", c.Concurrency),
		slog.Any("webhooks", AppNames(c.WebhookApps())),
		slog.Int("webhook_concurrency", c.WebhookConcurrency),
		slog.String("task_check_interval", c.TaskCheckInterval.String()),
		slog.String("delayed_task_check_interval", c.DelayedTaskCheckInterval.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
	)
}
