package program

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/config"
	"wxnotify/internal/logging"
	"wxnotify/internal/wechat"
)

// Main runs a program as a process, for the mains: SIGINT and SIGTERM end
// it gracefully, and "<name> healthcheck" instead probes a running one on
// its listen address (listenVar, else listenDefault) for images without curl.
func Main(name string, run func(ctx context.Context, getenv func(string) string, stdout io.Writer) error, listenVar, listenDefault string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		err = probe(ctx, probeAddr(os.Getenv, listenVar, listenDefault), "/readyz")
		name += " healthcheck"
	} else {
		err = run(ctx, os.Getenv, os.Stdout)
	}
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// begin is what every program does first: its logger (and go-redis's), the
// start line with the configuration (secrets masked), pprof when asked.
func begin(ctx context.Context, name string, l config.Logging, cfg slog.LogValuer, stdout io.Writer) (*slog.Logger, error) {
	log := logging.New(stdout, l.Level, l.Format)
	redis.SetLogger(logging.Redis{L: log})
	log.Info(name+" starting", "config", cfg)
	if err := servePprof(ctx, l.PprofAddr, log); err != nil {
		return nil, fmt.Errorf("PPROF_ADDR: %w", err)
	}
	return log, nil
}

// wechatClient is the WeChat client of one mini program.
func wechatClient(c config.WeChat, app config.App) (*wechat.Client, error) {
	return wechat.New(wechat.Config{AppID: app.AppID, AppSecret: app.Secret.Reveal(), BaseURL: c.BaseURL, Timeout: c.Timeout})
}
