package program

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/accesstoken"
	"wxnotify/internal/config"
	"wxnotify/internal/delivery"
	"wxnotify/internal/logging"
	"wxnotify/internal/ratelimit"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/task"
)

// Worker is the worker program: it delivers until ctx ends, then lets sends
// in flight finish (or requeues them after SHUTDOWN_TIMEOUT).
func Worker(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.LoadWorker(getenv)
	if err != nil {
		return err
	}
	log, err := begin(ctx, "worker", cfg.Logging, cfg, stdout)
	if err != nil {
		return err
	}
	rdb := cfg.Redis.Target().Client()
	defer rdb.Close()
	redisconn.RideOutOutages(rdb, 5*cfg.Redis.Timeout) // asynq's task-state writes wait for Redis instead of stranding tasks
	prom := prometheus.NewRegistry()
	prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := delivery.NewMetrics(prom)
	hooks := newWebhooks(cfg, rdb, log)
	handlers := delivery.ByQueue{}
	for _, app := range cfg.Apps {
		h, err := appHandler(cfg, app, rdb, log, metrics.App(app.Name), hooks.outbox(app.AppID))
		if err != nil {
			return err
		}
		handlers[app.Queue] = h
	}
	queues := cfg.QueueWeights()
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   queues,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		RetryDelayFunc:           delivery.RetryDelay(cfg.RetryBase, cfg.RetryCap),
		IsFailure:                delivery.IsFailure,
		Logger:                   logging.Asynq{L: log},
		LogLevel:                 asynqLevel(cfg.Logging.Level),
	})
	mux := asynq.NewServeMux()
	mux.Handle(task.Type, handlers)

	httpSrv, err := listenWorker(cfg.HTTPAddr, log, prom, rdb)
	if err != nil {
		return err
	}
	if err := srv.Start(mux); err != nil {
		_ = httpSrv.Close()
		return fmt.Errorf("start asynq server: %w", err)
	}
	if err := hooks.start(ctx); err != nil {
		srv.Shutdown()
		_ = httpSrv.Close()
		return err
	}
	for _, app := range cfg.Apps {
		announceSendRate(ctx, log, rdb, app.AppID, app.SendRate)
	}
	log.Info("worker running", "queues", queues, "concurrency", cfg.Concurrency, "webhook_queues", hooks.queueNames())
	<-ctx.Done()

	log.Info("worker shutting down", "timeout", cfg.ShutdownTimeout.String())
	// Both servers wait for what is in flight (requeueing what is left after
	// ShutdownTimeout) at the same time: the grace period holds one timeout.
	var stopped sync.WaitGroup
	stopped.Go(hooks.shutdown)
	srv.Shutdown()
	hooks.stopRelays()
	stopped.Wait()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// appHandler builds the delivery of one app: its WeChat client, its share
// of the token cache and its send rate, all keyed by its appid, and its
// webhook's outbox (nil without one).
func appHandler(cfg config.Worker, app config.App, rdb redis.UniversalClient, log *slog.Logger, metrics *delivery.AppMetrics, outbox delivery.Outbox) (*delivery.Handler, error) {
	wc, err := wechatClient(cfg.WeChat, app)
	if err != nil {
		return nil, err
	}
	log = log.With(slog.String("app", app.Name))
	client := delivery.InstrumentedClient{Client: wc, Metrics: metrics}
	tokens, err := accesstoken.New(rdb, client, accesstoken.Config{AppID: app.AppID, Logger: log})
	if err != nil {
		return nil, err
	}
	return delivery.New(delivery.Deps{
		Redis: rdb, AppID: app.AppID, Tokens: tokens, Sender: client, Shipper: client,
		Limiter:   ratelimit.SendsOf(rdb, app.AppID).Limiter(app.SendRate),
		Retention: cfg.Retention, RetryBase: cfg.RetryBase, RetryCap: cfg.RetryCap, Logger: log, Metrics: metrics,
		SentEvents: cfg.SentEvents, Outbox: outbox,
	}), nil
}

// listenWorker serves /healthz, /readyz and /metrics (a GET pattern
// answers HEAD too).
func listenWorker(addr string, log *slog.Logger, gatherer prometheus.Gatherer, rdb redis.UniversalClient) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := rdb.Ping(ctx).Err(); err != nil {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"code":"unavailable","message":"redis does not answer"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("WORKER_HTTP_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(ln) }()
	log.Info("worker listening", "addr", ln.Addr().String())
	return srv, nil
}

func asynqLevel(level string) asynq.LogLevel {
	switch level {
	case "debug":
		return asynq.DebugLevel
	case "warn":
		return asynq.WarnLevel
	case "error":
		return asynq.ErrorLevel
	}
	return asynq.InfoLevel
}

// announceSendRate writes the configured send rate for the console: once
// at start, never per send. A failure only leaves the console without it.
func announceSendRate(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient, appID string, rate int) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := ratelimit.SendsOf(rdb, appID).Announce(ctx, rate); err != nil {
		log.Warn("send rate not announced for the console", slog.Any("error", err))
	}
}
