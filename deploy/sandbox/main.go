// Command sandbox serves the WeChat sandbox (internal/sandbox) on its own:
// WeChat's login, token and subscribe-message endpoints for one fake mini
// program (-appid) or more (-apps), plus the /sandbox/ controls to play the user, inject faults and
// read what was delivered. Point WECHAT_BASE_URL at it.
//
// Every setting is a flag whose default comes from the environment
// variable named in its help; see -h.
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
	"os"
	"os/signal"
	"syscall"
	"time"

	"wxnotify/internal/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(2)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	opts, err := parseFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: opts.logLevel}))
	opts.cfg.Logger = logger
	sb, err := sandbox.New(opts.cfg)
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if opts.push.URL != "" {
		if err := sb.SetPush(opts.push); err != nil {
			return fmt.Errorf("-push-url / SANDBOX_PUSH_URL: %w", err)
		}
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return fmt.Errorf("listen on %s (-addr / SANDBOX_ADDR): %w", opts.addr, err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 5 * time.Second}
	logger.Info("WeChat sandbox listening",
		slog.String("url", "http://"+ln.Addr().String()),
		slog.String("appid", opts.cfg.AppID),
		slog.Any("apps", sb.AppIDs()),
		slog.Int("templates", len(opts.cfg.Templates)),
		slog.Duration("token_lifetime", opts.cfg.TokenLifetime))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Hanging requests (fault injection) do not hold up the exit.
	_ = srv.Close()
	return nil
}
