package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
)

const (
	appID  = sandboxtest.AppID
	secret = sandboxtest.AppSecret
)

// fixture is a sandbox on a real server, driven over raw HTTP so that the
// tests see the wire format, not a client's reading of it.
type fixture struct {
	sb    *sandbox.Sandbox
	url   string
	clock *sandbox.ManualClock
	order sandbox.Template
}

func setup(t *testing.T, mods ...func(*sandbox.Config)) *fixture {
	t.Helper()
	s := sandboxtest.Start(t, mods...)
	return &fixture{sb: s.Sandbox, url: s.URL, clock: s.Clock, order: s.Config.Templates[0]}
}

// answer is a decoded WeChat answer plus the raw body.
type answer struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	OpenID      string `json:"openid"`
	raw         string
	contentType string
}

func (f *fixture) do(t *testing.T, method, path string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.url+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a answer
	_ = json.Unmarshal(raw, &a)
	a.raw, a.contentType = string(raw), resp.Header.Get("Content-Type")
	return a
}

func (f *fixture) stable(t *testing.T, force bool) answer {
	t.Helper()
	return f.do(t, "POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": appID, "secret": secret, "force_refresh": force})
}

func (f *fixture) legacy(t *testing.T) answer {
	t.Helper()
	return f.do(t, "GET", "/cgi-bin/token?grant_type=client_credential&appid="+appID+"&secret="+secret, nil)
}

// subscriber is an openid holding n grants of the order template.
func (f *fixture) subscriber(t *testing.T, n int) string {
	t.Helper()
	_, openid := f.sb.Login("", "", false)
	if _, err := f.sb.Subscribe(openid, f.order.ID, sandbox.Accept, n); err != nil {
		t.Fatal(err)
	}
	return openid
}

func (f *fixture) orderBody(openid string) map[string]any {
	v := func(s string) map[string]string { return map[string]string{"value": s} }
	return map[string]any{
		"touser": openid, "template_id": f.order.ID, "page": "pages/order/detail?id=7",
		"data": map[string]any{
			"thing1": v("牛肉面 x2"), "character_string2": v("TX20261124001"),
			"time3": v("2026年11月24日 15:01"), "thing4": v("3号楼前台"), "thing5": v("凭取件码取件"),
		},
	}
}

func (f *fixture) send(t *testing.T, token string, body map[string]any) answer {
	t.Helper()
	return f.do(t, "POST", "/cgi-bin/message/subscribe/send?access_token="+url.QueryEscape(token), body)
}

func wantCode(t *testing.T, what string, a answer, code int) {
	t.Helper()
	if a.ErrCode != code {
		t.Fatalf("%s: errcode %d (%s); want %d", what, a.ErrCode, a.raw, code)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	ok := sandbox.DefaultTemplates()
	for _, tc := range []struct {
		cfg  sandbox.Config
		want string
	}{
		{sandbox.Config{AppSecret: "s", Templates: ok}, "AppID and AppSecret are required"},
		{sandbox.Config{AppID: "a", AppSecret: "s"}, "at least one template"},
		{sandbox.Config{AppID: "a", AppSecret: "s", Templates: ok, TokenLifetime: time.Millisecond}, "under a second"},
		{sandbox.Config{AppID: "a", AppSecret: "s", Templates: ok, Faults: sandbox.Faults{BusyRate: 1.5}}, "busy_rate 1.5 is not a probability"},
		{sandbox.Config{AppID: "a", AppSecret: "s", Templates: append(ok, ok[0])}, "defined twice"},
	} {
		if _, err := sandbox.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v; want an error containing %q", err, tc.want)
		}
	}
}

func TestParseTemplatesNamesTheProblem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ json, want string }{
		{`[{"id":"t","keywords":[{"key":"thing1"}],"kind":"forever"}]`, `kind "forever"`},
		{`[{"id":"t","keywords":[]}]`, "no keywords"},
		{`[{"id":"t","keywords":[{"key":"thing1"},{"key":"thing1"}]}]`, "thing1 appears twice"},
		{`[{"id":"t","keywords":[{"key":"enum1"}]}]`, "enum keyword enum1 has no values"},
		{`[{"id":"t","keywords":[{"key":"thing1"}],"pages":["/pages/x?y=1"]}]`, "is not a page path"},
		{`[{"id":"t","keywords":[{"key":"thing1"}],"colour":"red"}]`, `unknown field "colour"`},
	} {
		if _, err := sandbox.ParseTemplates([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTemplates(%s): %v; want %q", tc.json, err, tc.want)
		}
	}
}
