// Command naive is the benchmark's comparison peer and no part of wxnotify:
// the notification pipeline a Go developer would write in an afternoon
// without it. Its api binds the order service's call with gin's
// ShouldBindJSON, looks the user's openid up in Redis (stored at login) and
// enqueues an asynq task deduplicated by asynq.TaskID(dedupe_key); its
// worker is an asynq handler sending through github.com/silenceper/wechat/v2
// with silenceper's own Redis token cache, asynq's default retry policy for
// every error. No grants, no records, no other dedupe.
//
// deploy/bench builds it and runs it against the same WeChat sandbox, Redis
// and load as wxnotify:
//
//	naive -api -addr 127.0.0.1:8081 -redis 127.0.0.1:6380 -db 1 -api-key KEY
//	naive -worker -redis 127.0.0.1:6380 -db 1 -appid APPID -secret SECRET -wechat http://127.0.0.1:8090 -health 127.0.0.1:8082
//
// silenceper calls fixed https://api.weixin.qq.com URLs; -wechat points
// them at the sandbox (sandbox.go). silenceper is required by the bench's
// own module (deploy/bench/go.mod) alone, never by the service's, so it
// cannot reach the api or worker programs; CI checks the service's go.mod.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config is the command line of either mode.
type config struct {
	api, worker bool
	addr        string // -api: where to listen
	redis       string // host:port (silenceper's Redis cache speaks TCP only)
	db          int
	apiKey      string
	// -worker only
	appID, secret string
	wechat        string        // base URL silenceper's calls are sent to instead of api.weixin.qq.com
	health        string        // address of a /healthz for the bench to wait on; none when empty
	concurrency   int           // asynq handlers per process
	taskCheck     time.Duration // asynq's TaskCheckInterval; 0 keeps asynq's default (1 s)
	pprof         string        // serve net/http/pprof here (the bench's -profile); none when empty
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.pprof != "" {
		ln, err := net.Listen("tcp", cfg.pprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "naive: -pprof:", err)
			os.Exit(2)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		go func() { _ = http.Serve(ln, mux) }()
	}
	if cfg.api {
		err = runAPI(ctx, cfg)
	} else {
		err = runWorker(ctx, cfg)
	}
	if err != nil {
		slog.Error("naive stopped", "err", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line; exactly one of -api and -worker is required.
func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("naive", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&c.api, "api", false, "run the HTTP api")
	fs.BoolVar(&c.worker, "worker", false, "run an asynq worker")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8081", "api: listen address")
	fs.StringVar(&c.redis, "redis", "", "Redis host:port (required)")
	fs.IntVar(&c.db, "db", 0, "Redis database")
	fs.StringVar(&c.apiKey, "api-key", "", "api: the order service's bearer key (required)")
	fs.StringVar(&c.appID, "appid", "", "worker: the mini program's appid")
	fs.StringVar(&c.secret, "secret", "", "worker: the mini program's app secret")
	fs.StringVar(&c.wechat, "wechat", "", "worker: base URL that replaces https://api.weixin.qq.com (the sandbox)")
	fs.StringVar(&c.health, "health", "", "worker: serve /healthz on this address once the server runs")
	fs.IntVar(&c.concurrency, "concurrency", 50, "worker: asynq concurrency")
	fs.DurationVar(&c.taskCheck, "task-check-interval", 0, "worker: asynq's TaskCheckInterval (0: asynq's default, 1s)")
	fs.StringVar(&c.pprof, "pprof", "", "serve net/http/pprof on this address (profiles for the bench)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.api == c.worker:
		return c, errors.New("give exactly one of -api and -worker")
	case c.redis == "":
		return c, errors.New("-redis is required")
	case c.api && c.apiKey == "":
		return c, errors.New("-api-key is required with -api")
	case c.worker && (c.appID == "" || c.secret == ""):
		return c, errors.New("-appid and -secret are required with -worker")
	}
	return c, nil
}
