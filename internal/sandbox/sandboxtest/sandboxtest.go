// Package sandboxtest starts the WeChat sandbox on a real HTTP server for a
// test, with a manual clock unless the test asks for real time.
package sandboxtest

import (
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
)

// Credentials of the sandbox's mini program.
const (
	AppID     = "wx0123456789abcdef"
	AppSecret = "s3cr3t-app-secret-never-logged"
)

// Credentials of a second mini program the sandbox plays with the TwoApps mod.
const (
	AppID2     = "wxfedcba9876543210"
	AppSecret2 = "s3cr3t-second-app-secret-never-logged"
)

// Server is a running sandbox.
type Server struct {
	*sandbox.Sandbox
	// URL is the base URL to give a WeChat client.
	URL string
	// Clock moves the sandbox's time; nil when a mod set Config.Now.
	Clock *sandbox.ManualClock
	// Config is what the sandbox was built with.
	Config sandbox.Config
}

// Start runs a sandbox for the test with the default templates, logging
// discarded and a ManualClock at 2026-11-24 10:00 UTC; mods change the
// config (set Now to time.Now for real time). It stops when the test ends.
func Start(t testing.TB, mods ...func(*sandbox.Config)) *Server {
	t.Helper()
	cfg := sandbox.Config{
		AppID: AppID, AppSecret: AppSecret, Templates: sandbox.DefaultTemplates(),
		Logger: slog.New(slog.DiscardHandler),
	}
	for _, m := range mods {
		m(&cfg)
	}
	var clock *sandbox.ManualClock
	if cfg.Now == nil {
		clock = sandbox.NewManualClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
		cfg.Now = clock.Now
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() {
		srv.Close()
		sb.WaitPushes() // no push outlives the test that caused it
	})
	return &Server{Sandbox: sb, URL: srv.URL, Clock: clock, Config: cfg}
}

// RealTime is a mod for Start: the sandbox runs on the wall clock, for tests
// that mix it with Redis expiry.
func RealTime(c *sandbox.Config) { c.Now = time.Now }

// TwoApps is a mod for Start: the sandbox also plays the mini program
// AppID2 (AppSecret2, the default templates), with its own users, codes,
// tokens, grants, messages and pushes; reach it with Server.App(AppID2).
func TwoApps(c *sandbox.Config) {
	c.Apps = append(c.Apps, sandbox.App{AppID: AppID2, AppSecret: AppSecret2, Templates: sandbox.DefaultTemplates()})
}
