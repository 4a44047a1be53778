// Command api is wxnotify's HTTP service: login binding and subscription
// grants for the mini program, notification intake and status for the
// order service, health, metrics and the queue dashboard. Configuration
// comes from the environment (see the README).
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
	// "api healthcheck" probes a running api (Docker health checks; the image has no curl).
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		if err := program.Probe(ctx, program.ProbeAddr(os.Getenv, "HTTP_ADDR", ":8080"), "/readyz"); err != nil {
			fmt.Fprintln(os.Stderr, "api healthcheck:", err)
			os.Exit(1)
		}
		return
	}
	if err := program.API(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}
