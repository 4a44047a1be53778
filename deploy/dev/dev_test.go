package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"wxnotify/internal/cmdtest"
)

func noEnv(string) string { return "" }

// The README's first command: the demo drives the flow and ends with the
// delivered message's msgid.
func TestDemoDeliversAndExitsCleanly(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-demo"}, noEnv, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`"msgid": "\d{16,20}"`).MatchString(out.String()) || !strings.Contains(out.String(), `"thing1": "牛肉面 x2"`) {
		t.Fatalf("demo output lacks the delivered message:\n%s", out.String())
	}
}

// The demo plays the WeChat user, so it needs the sandbox.
func TestDemoNeedsTheSandbox(t *testing.T) {
	t.Parallel()
	env := map[string]string{"WECHAT_BASE_URL": "http://127.0.0.1:9"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-demo"}, func(k string) string { return env[k] }, &out)
	if err == nil || !strings.Contains(err.Error(), "unset WECHAT_BASE_URL") {
		t.Fatalf("demo against a real WeChat: %v", err)
	}
}

// walkthrough is the bash block between the markers in the README.
func walkthrough(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- walkthrough -->\\s*```sh\\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no ```sh block after <!-- walkthrough -->")
	}
	return string(m[1])
}

// The README's curl walk-through is the one the dev stack prints, and it
// works against a running dev stack.
func TestREADMEWalkthroughAgainstTheDevStack(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to replay the README (.ci/run installs curl)", tool)
		}
	}
	script := walkthrough(t)
	// Every request with a body says it is JSON: curl -d alone labels it a form.
	if !strings.Contains(script, "JSON='Content-Type: application/json'") {
		t.Error("the walk-through does not set JSON='Content-Type: application/json'")
	}
	for _, line := range strings.Split(script, "\n") {
		if strings.Contains(line, " -d ") && !strings.Contains(line, `-H "$JSON" -d `) {
			t.Errorf("a request with a body but no Content-Type: %s", line)
		}
	}

	// Same text as the banner at the default addresses.
	st := &stack{env: devDefaults, apiURL: "http://127.0.0.1:8080", workerURL: "http://127.0.0.1:9090", sandboxURL: "http://127.0.0.1:8090", redis: "embedded"}
	var banner bytes.Buffer
	printBanner(&banner, st)
	if !strings.Contains(banner.String(), script) {
		t.Fatalf("the README walk-through differs from what the dev stack prints:\nREADME:\n%s\nbanner:\n%s", script, banner.String())
	}

	replay(t, false, nil)
}

// The banner names the operator console beside the queue dashboard, with
// their one login.
func TestBannerNamesTheConsole(t *testing.T) {
	t.Parallel()
	st := &stack{env: devDefaults, apiURL: "http://127.0.0.1:8080", workerURL: "http://127.0.0.1:9090", sandboxURL: "http://127.0.0.1:8090", redis: "embedded"}
	var banner bytes.Buffer
	printBanner(&banner, st)
	for _, want := range []string{"Console         http://127.0.0.1:8080/admin/   login admin / dev-admin-password",
		"Dashboard       http://127.0.0.1:8080/admin/asynq/"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, banner.String())
		}
	}
}

// With -two-apps the banner's walk-through names the first app, and works.
func TestTwoAppsWalkthroughAgainstTheDevStack(t *testing.T) {
	t.Parallel()
	replay(t, true, func(st *stack) string {
		var banner bytes.Buffer
		printBanner(&banner, st)
		_, script, _ := strings.Cut(banner.String(), "The whole flow (bash; needs curl and sed):\n\n")
		script, _, _ = strings.Cut(script, "\nCtrl-C")
		if !strings.Contains(script, `\"appid\":\"wxsandbox00000000\"`) || !strings.Contains(script, `"app":"shop"`) {
			t.Fatalf("the two-app walk-through does not name the app:\n%s", script)
		}
		return script
	})
}

// replay runs a walk-through against a live dev stack (one app, or two):
// script is the README's, or what scriptOf makes of the live stack.
func replay(t *testing.T, twoApps bool, scriptOf func(*stack) string) {
	t.Helper()
	env := map[string]string{"HTTP_ADDR": "127.0.0.1:0", "WORKER_HTTP_ADDR": "127.0.0.1:0", "SANDBOX_ADDR": "127.0.0.1:0"}
	live, err := start(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{}, false, twoApps)
	if err != nil {
		t.Fatal(err)
	}
	defer live.stop()
	script := strings.NewReplacer("http://127.0.0.1:8080", live.apiURL, "http://127.0.0.1:8090", live.sandboxURL).Replace(walkthrough(t))
	if scriptOf != nil {
		script = scriptOf(live)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walk-through failed: %v\n%s", err, out)
	}
	for _, want := range []string{`"state":"completed"`, `"status":"delivered"`, `"thing1":"牛肉面 x2"`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("walk-through output lacks %s:\n%s", want, out)
		}
	}
}

func TestMain(m *testing.M) { cmdtest.Main(m, main) }

// go run ./deploy/dev -h (or -help) prints the usage and succeeds.
func TestHelpExitsZero(t *testing.T) { cmdtest.CheckHelp(t, "demo") }

// -two-apps serves a second mini program from an APPS_FILE: the demo
// delivers once in each, each message in its own app's inbox.
func TestDemoWithTwoApps(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-demo", "-two-apps"}, noEnv, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"== mini program shop (wxsandbox00000000)", "== mini program club (wxsandbox00000001)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if n := len(regexp.MustCompile(`"msgid": "\d{16,20}"`).FindAllString(out.String(), -1)); n != 2 {
		t.Fatalf("demo delivered %d messages; want one per app:\n%s", n, out.String())
	}
}
