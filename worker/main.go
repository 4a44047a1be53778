// Command worker is wxnotify's delivery process: it takes notifications off
// the queue and sends each through WeChat's subscribeMessage.send, with the
// access token shared through Redis, and serves /healthz, /readyz and
// /metrics on WORKER_HTTP_ADDR. Configuration comes from the environment
// (see the README). "worker healthcheck" probes a running worker.
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
	// "worker healthcheck" probes a running worker (Docker health checks; the image has no curl).
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		if err := program.Probe(ctx, program.ProbeAddr(os.Getenv, "WORKER_HTTP_ADDR", ":9090"), "/readyz"); err != nil {
			fmt.Fprintln(os.Stderr, "worker healthcheck:", err)
			os.Exit(1)
		}
		return
	}
	if err := program.Worker(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
