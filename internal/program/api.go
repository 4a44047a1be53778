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
	"wxnotify/internal/intake"
	"wxnotify/internal/ratelimit"
	"wxnotify/internal/record"
	"wxnotify/internal/registry"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
	"wxnotify/internal/webhook"
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
	target := cfg.Redis.Target()
	rdb := target.Client()
	defer rdb.Close()
	var verifier httpapi.UserVerifier
	if cfg.UserJWT.Enabled() {
		if verifier, err = identity.NewVerifier(cfg.UserJWT); err != nil {
			return err
		}
	}
	prom := prometheus.NewRegistry()
	prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewQueueMetricsCollector(asynq.NewInspectorFromRedisClient(rdb)))

	deps := httpapi.Deps{
		Logger: log, Identity: verifier, GrantSource: cfg.GrantSource,
		Limiter:  ratelimit.Logins(rdb, cfg.LoginRatePerMinute),
		APIKeys:  reveal(cfg.APIKeys),
		Ready:    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Gatherer: prom, Metrics: httpapi.NewMetrics(prom),
		MaxBodyBytes: cfg.MaxBodyBytes, TrustedProxies: cfg.TrustedProxies, StoreTimeout: cfg.Redis.Timeout,
	}
	var consoleApps []console.App
	for _, a := range cfg.Apps {
		app, err := apiApp(cfg, a, rdb, log)
		if err != nil {
			return err
		}
		deps.Apps = append(deps.Apps, app.api)
		consoleApps = append(consoleApps, app.console)
	}
	if cfg.AdminUser != "" {
		dash := httpapi.NewDashboard(target.AsynqOpt(), !cfg.UserJWT.Enabled())
		defer dash.Close()
		deps.Dashboard, deps.AdminUser, deps.AdminPassword = dash, cfg.AdminUser, cfg.AdminPassword.Reveal()
	} else {
		log.Warn("queue dashboard off: set ADMIN_USER and ADMIN_PASSWORD to serve it at " + httpapi.DashboardPath + "/")
	}
	if cfg.AdminUser != "" {
		if deps.Console, err = console.New(console.Deps{Logger: log, Apps: consoleApps, DashboardPath: httpapi.DashboardPath}); err != nil {
			return fmt.Errorf("console: %w", err)
		}
	}
	router, err := httpapi.New(deps)
	if err != nil {
		return err
	}
	return serveAPI(ctx, log, cfg, router)
}

// servedApp is one app as the api builds it: what its routes serve, and
// the console's readers of the same stores.
type servedApp struct {
	api     *httpapi.App
	console console.App
}

// apiApp builds what the api serves one app with: its templates, WeChat
// login, users, queue and message push, all keyed by its appid.
func apiApp(cfg config.API, a config.App, rdb redis.UniversalClient, log *slog.Logger) (servedApp, error) {
	reg, err := loadRegistry(cfg, a, log)
	if err != nil {
		return servedApp{}, err
	}
	wc, err := wechatClient(cfg.WeChat, a)
	if err != nil {
		return servedApp{}, err
	}
	users := subscriber.New(rdb, a.AppID, cfg.SessionTTL)
	records := record.NewStore(rdb, a.AppID, cfg.Retention)
	queue := intake.New(rdb, records, a.Queue, cfg.MaxRetry)
	app := &httpapi.App{
		Name: a.Name, AppID: a.AppID, Registry: reg, WeChat: wc, Users: users, Intake: queue, Records: records,
		DefaultChannel: task.Channel(a.DefaultChannel),
		APIKeys:        reveal(a.APIKeys),
	}
	if a.PushToken != "" {
		if app.Events, err = wxevent.NewVerifier(a.PushToken.Reveal(), a.PushAESKey.Reveal(), a.AppID); err != nil {
			return servedApp{}, fmt.Errorf("%s: %w", appSetting(cfg, a, "WECHAT_PUSH_AES_KEY", "push_aes_key"), err)
		}
	}
	return servedApp{api: app, console: consoleApp(a, reg, rdb, queue, records, users)}, nil
}

// appSetting names where an app's setting comes from, for an error: the
// single app's variable, or the app's field in APPS_FILE.
func appSetting(cfg config.API, a config.App, variable, field string) string {
	if cfg.AppsFile == "" {
		return variable
	}
	return "APPS_FILE: app " + a.Name + ": " + field
}

func loadRegistry(cfg config.API, a config.App, log *slog.Logger) (*registry.Registry, error) {
	if a.TemplatesFile == "" {
		log.Warn("no template registry file: using the built-in one (the WeChat sandbox's template ids)", slog.String("app", a.Name))
		return registry.Default(), nil
	}
	reg, err := registry.LoadFile(a.TemplatesFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", appSetting(cfg, a, "TEMPLATES_FILE", "templates_file"), err)
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

// consoleApp is app a as the operator console reads it (served beside the
// dashboard, behind the same account): its stores, its token's health and
// send rate, and its webhook's dead events, all keyed by its appid. The api
// does not read the worker's webhook settings: an app without a webhook
// shows an empty dead list.
func consoleApp(a config.App, reg *registry.Registry, rdb redis.UniversalClient, q *intake.Queue, records *record.Store, users *subscriber.Store) console.App {
	ins := asynq.NewInspectorFromRedisClient(rdb)
	return console.App{
		Name: a.Name, AppID: a.AppID, Queue: a.Queue, Registry: reg, Notifications: records, QueueInfo: q.QueueInfo, TaskInfo: q.TaskInfo, Users: users,
		Token: func(ctx context.Context) (accesstoken.Health, error) {
			return accesstoken.ReadHealth(ctx, rdb, a.AppID)
		},
		SendBacklog:  ratelimit.SendsOf(rdb, a.AppID).Backlog,
		SendRate:     ratelimit.SendsOf(rdb, a.AppID).Announced,
		WebhookQueue: webhook.Queue(a.AppID),
		DeadWebhooks: func(ctx context.Context, page int) ([]webhook.Dead, error) {
			return webhook.DeadList(ctx, ins, webhook.Queue(a.AppID), page)
		},
	}
}
