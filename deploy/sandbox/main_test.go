package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/cmdtest"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The program serves the sandbox on the address it prints, and stops when
// its context ends.
func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-appid", "wxtest"}, envOf(map[string]string{"WECHAT_APP_SECRET": "from-env"}), pw)
		pw.Close()
	}()

	lines := bufio.NewScanner(pr)
	var base string
	for lines.Scan() {
		var rec struct{ Msg, URL string }
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.URL != "" {
			base = rec.URL
			break
		}
	}
	if base == "" {
		t.Fatal("the program never printed its URL")
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	resp, err := http.Post(base+"/sandbox/login", "application/json", strings.NewReader(`{"openid":"o-test-user-0000000000000000"}`))
	if err != nil {
		t.Fatal(err)
	}
	var minted struct{ Code string }
	_ = json.NewDecoder(resp.Body).Decode(&minted)
	resp.Body.Close()

	q := url.Values{"appid": {"wxtest"}, "secret": {"from-env"}, "js_code": {minted.Code}, "grant_type": {"authorization_code"}}
	resp, err = http.Get(base + "/sns/jscode2session?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var sess struct{ OpenID string }
	_ = json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if sess.OpenID != "o-test-user-0000000000000000" {
		t.Fatalf("jscode2session with the secret from WECHAT_APP_SECRET answered openid %q", sess.OpenID)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestBadSettingsAreNamed(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "templates.json")
	if err := os.WriteFile(bad, []byte(`[{"id":"x","keywords":[{"key":"colour1"}]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{env: map[string]string{"SANDBOX_BUSY_RATE": "2"}, want: `SANDBOX_BUSY_RATE: "2" is not a probability`},
		{env: map[string]string{"SANDBOX_TOKEN_LIFETIME": "forever"}, want: `SANDBOX_TOKEN_LIFETIME: "forever" is not a duration`},
		{args: []string{"-hang-rate", "often"}, want: `invalid value "often" for flag -hang-rate`},
		{args: []string{"-templates", bad}, want: `unknown type "colour"`},
		{env: map[string]string{"LOG_LEVEL": "loud"}, want: `LOG_LEVEL "loud"`},
		{args: []string{"-addr", "nowhere:-1"}, want: "SANDBOX_ADDR"},
	} {
		err := run(context.Background(), tc.args, envOf(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("args %v env %v: error %v; want it to contain %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestMain(m *testing.M) { cmdtest.Main(m, main) }

// go run ./deploy/sandbox -h (or -help) prints the usage and succeeds.
func TestHelpExitsZero(t *testing.T) { cmdtest.CheckHelp(t, "push-url") }
