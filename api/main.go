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
	if err := program.API(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}
