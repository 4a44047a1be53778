package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/cmdtest"
	"wxnotify/internal/wxevent"
)

// serve runs the program until the test ends; it returns the URL the
// program says it listens on and its output.
func serve(t *testing.T, args []string, env map[string]string) (string, *cmdtest.Output) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &cmdtest.Output{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, envOf(env), out) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for line := range strings.Lines(out.String()) {
			var rec struct{ URL string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.URL != "" {
				return rec.URL, out
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the program ended before listening: %v", err)
		default:
		}
	}
	t.Fatalf("the program never printed its URL:\n%s", out)
	return "", nil
}

// pushed is one push a receiver got: its path, query and body.
type pushed struct {
	path  string
	query url.Values
	body  []byte
}

// A second mini program from SANDBOX_APPS: its codes work with its own
// credentials only, its pushes go to the push URL with its appid in place
// of {appid}, signed with its own push token; the start log names both
// appids and no secret.
func TestSecondAppFromTheEnvironment(t *testing.T) {
	t.Parallel()
	const (
		second, secondSecret, secondToken = "wxsecond0000000000", "second-app-secret-not-logged", "second-push-token"
	)
	got := make(chan pushed, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- pushed{r.URL.Path, r.URL.Query(), body}
	}))
	t.Cleanup(rcv.Close)
	base, out := serve(t, []string{"-addr", "127.0.0.1:0", "-appid", "wxfirst"}, map[string]string{
		"WECHAT_APP_SECRET": "first-app-secret-not-logged",
		"SANDBOX_APPS":      second + ":" + secondSecret + ":" + secondToken,
		"SANDBOX_PUSH_URL":  rcv.URL + "/{appid}/events",
		"WECHAT_PUSH_TOKEN": "first-push-token",
	})

	decode := func(resp *http.Response, err error) map[string]any {
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return v
	}
	post := func(path, body string) map[string]any {
		return decode(http.Post(base+path, "application/json", strings.NewReader(body)))
	}
	exchange := func(appid, secret, code string) map[string]any {
		q := url.Values{"appid": {appid}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
		return decode(http.Get(base + "/sns/jscode2session?" + q.Encode()))
	}
	minted := post("/sandbox/login", `{"appid":"`+second+`"}`)
	code, _ := minted["code"].(string)
	if a := exchange("wxfirst", "first-app-secret-not-logged", code); a["errcode"] != float64(40029) {
		t.Fatalf("the second app's code with the first app's credentials: %v; want 40029", a)
	}
	if a := exchange(second, secondSecret, code); a["openid"] != minted["openid"] {
		t.Fatalf("the second app's code with its own credentials: %v; want openid %v", a, minted["openid"])
	}

	tmpl := "Zx8qLtOrderArrived0000000000000000000000000" // the built-in order_arrived template
	post("/sandbox/subscriptions", `{"appid":"`+second+`","openid":"o-second","template_id":"`+tmpl+`"}`)
	var p pushed
	select {
	case p = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no push arrived")
	}
	if p.path != "/"+second+"/events" {
		t.Fatalf("the second app pushed to %s; want /%s/events", p.path, second)
	}
	v, _ := wxevent.NewVerifier(secondToken, "", second)
	ev, err := v.Open(wxevent.Params{Signature: p.query.Get("signature"), Timestamp: p.query.Get("timestamp"), Nonce: p.query.Get("nonce")}, p.body)
	if err != nil || ev.FromUserName != "o-second" {
		t.Fatalf("the push, checked with the second app's token: %+v, %v", ev, err)
	}

	logs := out.String()
	if !strings.Contains(logs, `"apps":["wxfirst","`+second+`"]`) {
		t.Errorf("the start log does not list both appids:\n%s", logs)
	}
	for _, s := range []string{"first-app-secret-not-logged", secondSecret, secondToken, "first-push-token"} {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain the secret %q", s)
		}
	}
}

// A bad -apps or SANDBOX_APPS entry is named by its place or appid, and
// the error never shows a secret.
func TestBadAppsAreNamedWithoutTheirSecrets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{env: map[string]string{"SANDBOX_APPS": "wxa:topsecret,wxb"}, want: "SANDBOX_APPS: entry 2 is not appid:secret"},
		{args: []string{"-apps", "wxa:topsecret:tok:key:extra"}, want: "-apps / SANDBOX_APPS: entry 1"},
		{args: []string{"-appid", "wxa", "-apps", "wxa:topsecret"}, want: "appid wxa is already one of the sandbox's apps"},
		{args: []string{"-apps", "wxa:topsecret:tok:short", "-push-url", "http://127.0.0.1:9/{appid}"}, want: "sandbox push for wxa: wxevent: EncodingAESKey is 5 characters"},
	} {
		err := run(context.Background(), tc.args, envOf(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("args %v env %v: error %v; want it to contain %q and no secret", tc.args, tc.env, err, tc.want)
		}
	}
	// -apps wins over SANDBOX_APPS, and may be repeated.
	o, err := parseFlags([]string{"-apps", "wxb:s1", "-apps", "wxc:s2,wxd:s3"}, envOf(map[string]string{"SANDBOX_APPS": "wxe:s4"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range o.cfg.Apps {
		ids = append(ids, a.AppID)
	}
	if strings.Join(ids, ",") != "wxb,wxc,wxd" {
		t.Fatalf("apps %v; want wxb, wxc, wxd from the repeated -apps", ids)
	}
	if _, err := parseApps([]string{":s"}, o.push); err == nil {
		t.Fatal("an entry without appid was accepted")
	}
}
