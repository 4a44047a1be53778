// Command worker is wxnotify's delivery process (dequeues notifications and sends them to WeChat).
//
// Not built yet: this placeholder only builds and exits, so that the layout,
// CI and deployment files can rely on the program existing.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// run is the whole program; main only supplies the process's environment.
func run(_ context.Context, _ func(string) string, stdout io.Writer) error {
	_, err := fmt.Fprintln(stdout, "wxnotify worker: not implemented yet")
	return err
}
