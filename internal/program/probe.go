package program

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// probe is the programs' "healthcheck" subcommand, for images without curl
// (Docker health checks): it GETs path on the program's own listen address
// and succeeds on HTTP 200.
func probe(ctx context.Context, listenAddr, path string) error {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", listenAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", path, resp.StatusCode)
	}
	return nil
}

// probeAddr is the address the healthcheck subcommand probes: the program's
// variable, or its default.
func probeAddr(getenv func(string) string, variable, def string) string {
	if v := getenv(variable); v != "" {
		return v
	}
	return def
}
