// Package program holds the bodies of wxnotify's programs, so that the
// thin mains, the one-process dev stack and the end-to-end tests all run
// the same code.
package program

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/accesstoken"
	"wxnotify/internal/config"
	"wxnotify/internal/console"
	"wxnotify/internal/httpapi"
	"wxnotify/internal/identity"
	"wxnotify/internal/notification"
	"wxnotify/internal/ratelimit"
	"wxnotify/internal/registry"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/wxevent"
)

// API is the api program: it serves until ctx ends, then shuts down
// gracefully. getenv supplies the configuration, stdout receives the logs.
func API(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.LoadAPI(getenv)
	if err != nil {
		return err
	}
	log, err := begin(ctx, "api", cfg.Logging, cfg, stdout)
	if err != nil {
		return err
	}
	reg, err := loadRegistry(cfg, log)
	if err != nil {
		return err
	}
	target := cfg.Redis.Target()
	rdb := target.Client()
	defer rdb.Close()
	wc, err := wechatClient(cfg.WeChat)
	if err != nil {
		return err
	}
	var verifier httpapi.UserVerifier
	if cfg.UserJWT.Enabled() {
		if verifier, err = identity.NewVerifier(cfg.UserJWT); err != nil {
			return err
		}
	}

	var events *wxevent.Verifier
	if cfg.PushToken != "" {
		if events, err = wxevent.NewVerifier(cfg.PushToken.Reveal(), cfg.PushAESKey.Reveal(), cfg.WeChat.AppID); err != nil {
			return fmt.Errorf("WECHAT_PUSH_AES_KEY: %w", err)
		}
	}
	prom := prometheus.NewRegistry()
	prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewQueueMetricsCollector(asynq.NewInspectorFromRedisClient(rdb)))

	users := subscriber.New(rdb, cfg.WeChat.AppID, cfg.SessionTTL)
	queue := notification.NewQueue(rdb, cfg.WeChat.AppID, cfg.Retention, cfg.MaxRetry)
	deps := httpapi.Deps{
		Logger: log, Registry: reg, WeChat: wc,
		Users:    users,
		Queue:    queue,
		Identity: verifier, Events: events, GrantSource: cfg.GrantSource,
		Limiter:  ratelimit.PerMinute(rdb, "wxnotify:"+cfg.WeChat.AppID+":login:", cfg.LoginRatePerMinute),
		APIKeys:  reveal(cfg.APIKeys),
		Ready:    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Gatherer: prom, Metrics: httpapi.NewMetrics(prom),
		MaxBodyBytes: cfg.MaxBodyBytes, TrustedProxies: cfg.TrustedProxies, StoreTimeout: cfg.Redis.Timeout,
	}
	if cfg.AdminUser != "" {
		dash := httpapi.NewDashboard(target.AsynqOpt(), !cfg.UserJWT.Enabled())
		defer dash.Close()
		deps.Dashboard, deps.AdminUser, deps.AdminPassword = dash, cfg.AdminUser, cfg.AdminPassword.Reveal()
	} else {
		log.Warn("queue dashboard off: set ADMIN_USER and ADMIN_PASSWORD to serve it at " + httpapi.DashboardPath + "/")
	}
	if cfg.AdminUser != "" {
		if deps.Console, err = newConsole(log, reg, rdb, queue, users, cfg.WeChat.AppID); err != nil {
			return err
		}
	}
	router, err := httpapi.New(deps)
	if err != nil {
		return err
	}
	return serveAPI(ctx, log, cfg, router)
}

func loadRegistry(cfg config.API, log *slog.Logger) (*registry.Registry, error) {
	if cfg.TemplatesFile == "" {
		log.Warn("TEMPLATES_FILE unset: using the built-in template registry (the WeChat sandbox's template ids)")
		return registry.Default(), nil
	}
	reg, err := registry.LoadFile(cfg.TemplatesFile)
	if err != nil {
		return nil, fmt.Errorf("TEMPLATES_FILE: %w", err)
	}
	return reg, nil
}

// serveAPI runs the HTTP server with timeouts against slow clients and shuts
// it down when ctx ends, letting requests in flight finish.
func serveAPI(ctx context.Context, log *slog.Logger, cfg config.API, h http.Handler) error {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("api listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("api shutting down", "timeout", cfg.ShutdownTimeout)
	shutdown, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func reveal(keys []config.Secret) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Reveal()
	}
	return out
}

// newConsole builds the operator console (served beside the dashboard,
// behind the same account).
func newConsole(log *slog.Logger, reg *registry.Registry, rdb redis.UniversalClient, q *notification.Queue, users *subscriber.Store, appID string) (*console.Console, error) {
	return console.New(console.Deps{
		Logger: log, Registry: reg, Notifications: q, Users: users,
		Token: func(ctx context.Context) (accesstoken.Health, error) { return accesstoken.ReadHealth(ctx, rdb, appID) },
		SendBacklog: func(ctx context.Context) (time.Duration, error) {
			return ratelimit.Backlog(ctx, rdb, sendRatePrefix(appID), appID)
		},
		SendRate: func(ctx context.Context) (int, error) {
			n, err := rdb.Get(ctx, sendRateKey(appID)).Int()
			if errors.Is(err, redis.Nil) {
				return 0, nil
			}
			return n, err
		},
		DashboardPath: httpapi.DashboardPath,
	})
}
