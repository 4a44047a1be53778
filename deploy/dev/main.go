// Command dev runs all of wxnotify in one process from the same code the
// real programs use: an embedded Redis (miniredis) unless REDIS_URL is set,
// the WeChat sandbox unless WECHAT_BASE_URL is set, the API and the worker.
// It honours the programs' environment variables and fills printed dev
// values for those unset.
//
//	go run ./deploy/dev          # run, print the URLs and a curl walk-through
//	go run ./deploy/dev -demo    # drive the whole flow once, print the delivered message, exit
//	go run ./deploy/dev -two-apps -demo   # the same with two mini programs, once in each
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

// run starts the stack; with -demo it drives the flow once and returns.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stdout)
	demo := fs.Bool("demo", false, "drive login → accept → notify → delivery once, print the message and exit")
	twoApps := fs.Bool("two-apps", false, "serve a second mini program (club, wxsandbox00000001) beside the first, from an APPS_FILE")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logs := stdout
	if *demo {
		// The demo prints its steps; the programs' logs are shown only if it fails.
		logs = &lockedWriter{w: &bytes.Buffer{}}
	}
	st, err := start(ctx, getenv, logs, *demo, *twoApps)
	if err != nil {
		return err
	}
	defer st.stop()
	if *demo {
		if err := runDemo(ctx, st, stdout); err != nil {
			if fl, ok := logs.(*lockedWriter); ok {
				fmt.Fprintf(stdout, "\n--- the programs' logs ---\n%s", fl.String())
			}
			return err
		}
		return nil
	}
	printBanner(stdout, st)
	select {
	case <-ctx.Done():
		return nil
	case err := <-st.failed:
		return err
	}
}
