// Command worker is wxnotify's delivery process: it takes notifications off
// the queue and sends each through WeChat's subscribeMessage.send, with the
// access token shared through Redis, and serves /healthz, /readyz and
// /metrics on WORKER_HTTP_ADDR. Configuration comes from the environment
// (see the README).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"wxnotify/internal/program"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := program.Worker(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
