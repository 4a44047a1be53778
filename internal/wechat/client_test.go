package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/wechat"
)

const (
	appID  = sandboxtest.AppID
	secret = sandboxtest.AppSecret
)

// env is a sandbox on a real HTTP server and a client pointed at it.
type env struct {
	sb     *sandboxtest.Server
	clock  *sandbox.ManualClock
	client *wechat.Client
	tmpl   sandbox.Template // the one-time order template
}

func setup(t *testing.T, mods ...func(*sandbox.Config)) *env {
	t.Helper()
	sb := sandboxtest.Start(t, mods...)
	e := &env{sb: sb, clock: sb.Clock, tmpl: sb.Config.Templates[0]}
	e.client = e.newClient(t, nil)
	return e
}

func (e *env) newClient(t *testing.T, mod func(*wechat.Config)) *wechat.Client {
	t.Helper()
	cfg := wechat.Config{AppID: appID, AppSecret: secret, BaseURL: e.sb.URL, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := wechat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) token(t *testing.T) string {
	t.Helper()
	tok, err := e.client.StableToken(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// subscriber returns an openid that accepted the order template once.
func (e *env) subscriber(t *testing.T) string {
	t.Helper()
	_, openid := e.sb.Login("", "", false)
	if _, err := e.sb.Subscribe(openid, e.tmpl.ID, sandbox.Accept, 1); err != nil {
		t.Fatal(err)
	}
	return openid
}

// orderMessage is a valid order_arrived message to openid.
func (e *env) orderMessage(openid string) wechat.Message {
	return wechat.Message{
		ToUser: openid, TemplateID: e.tmpl.ID, Page: "pages/order/detail?id=42",
		Data: wechat.Values(map[string]string{
			"thing1":            "牛肉面 x2",
			"character_string2": "TX20261124001",
			"time3":             "2026年11月24日 15:01",
			"thing4":            "3号楼前台",
			"thing5":            "凭取件码取件",
		}),
	}
}

func TestNewNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  wechat.Config
		want string
	}{
		{wechat.Config{AppSecret: "x"}, "AppID is empty"},
		{wechat.Config{AppID: "x"}, "AppSecret is empty"},
		{wechat.Config{AppID: "x", AppSecret: "y", BaseURL: "api.weixin.qq.com"}, `BaseURL "api.weixin.qq.com" is not an http(s) URL`},
	} {
		if _, err := wechat.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) error = %v; want it to say %q", tc.cfg, err, tc.want)
		}
	}
}

func TestLoginSendAndDeliveredMessage(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()

	code, openid := e.sb.Login("", "union-1", false)
	sess, err := e.client.Code2Session(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if sess.OpenID != openid || sess.UnionID != "union-1" || sess.SessionKey == "" {
		t.Fatalf("Code2Session = %+v; want openid %s, unionid union-1 and a session key", sess, openid)
	}
	if b, _ := json.Marshal(sess); strings.Contains(string(b), sess.SessionKey) {
		t.Fatalf("session key leaks into JSON: %s", b)
	}
	if _, err := e.sb.Subscribe(openid, e.tmpl.ID, sandbox.Accept, 1); err != nil {
		t.Fatal(err)
	}

	msg := e.orderMessage(openid)
	msgid, err := e.client.SendSubscribe(ctx, e.token(t), msg)
	if err != nil {
		t.Fatal(err)
	}
	got := e.sb.Messages(openid, "")
	if len(got) != 1 {
		t.Fatalf("sandbox delivered %d messages; want 1", len(got))
	}
	if got[0].MsgID != msgid {
		t.Fatalf("client msgid %s, sandbox delivered msgid %s: not kept exact", msgid, got[0].MsgID)
	}
	if n, _ := strconv.ParseUint(msgid, 10, 64); n <= 1<<53 {
		t.Fatalf("msgid %s is within float64 precision; the test would not catch a lossy decode", msgid)
	}
	if got[0].Data["thing1"] != "牛肉面 x2" || got[0].Page != msg.Page || got[0].Lang != "zh_CN" || got[0].MiniprogramState != "formal" {
		t.Fatalf("delivered %+v; want the message as sent with WeChat's defaults", got[0])
	}
	// The one-time grant is spent: the same send now answers 43101.
	_, err = e.client.SendSubscribe(ctx, e.token(t), msg)
	if wechat.ErrCode(err) != 43101 {
		t.Fatalf("second send with one grant: %v; want errcode 43101", err)
	}
}

func TestCodeWorksOnceAndExpires(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()

	code, _ := e.sb.Login("", "", false)
	if _, err := e.client.Code2Session(ctx, code); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := e.client.Code2Session(ctx, code); wechat.ErrCode(err) != 40163 {
		t.Fatalf("second use: %v; want 40163 code been used", err)
	}

	fresh, _ := e.sb.Login("", "", false)
	e.clock.Advance(5*time.Minute - time.Second)
	stale, _ := e.sb.Login("", "", false)
	e.clock.Advance(2 * time.Second) // fresh is now 5 min 1 s old, stale 2 s
	if _, err := e.client.Code2Session(ctx, fresh); wechat.ErrCode(err) != 40029 {
		t.Fatalf("code past 5 minutes: %v; want 40029", err)
	}
	if _, err := e.client.Code2Session(ctx, stale); err != nil {
		t.Fatalf("code 2 s old: %v", err)
	}
}

// Transport errors must not carry the request URL: it holds the secret
// (code2Session) or the access_token (send).
func TestErrorsNeverCarrySecrets(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *sandbox.Config) { c.Faults.HangRate = 1; c.Faults.HangFor = sandbox.Duration(5 * time.Second) })
	tok := strings.Repeat("T", 64)
	hurried := e.newClient(t, func(c *wechat.Config) { c.Timeout = 50 * time.Millisecond })

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	refused := e.newClient(t, func(c *wechat.Config) { c.BaseURL = closed.URL })

	_, err1 := hurried.Code2Session(context.Background(), "code")
	_, err2 := hurried.SendSubscribe(context.Background(), tok, e.orderMessage("o1"))
	_, err3 := refused.SendSubscribe(context.Background(), tok, e.orderMessage("o1"))
	_, err4 := refused.StableToken(context.Background(), false)
	err5 := hurried.UploadShippingInfo(context.Background(), tok, wechat.ShippingInfo{})
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if err == nil {
			t.Fatalf("call %d succeeded; want a transport error", i+1)
		}
		if s := err.Error(); strings.Contains(s, secret) || strings.Contains(s, tok) {
			t.Errorf("call %d error leaks a secret: %s", i+1, s)
		}
	}
}

func TestCallsHonourTheContext(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *sandbox.Config) { c.Faults.HangRate = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.client.StableToken(ctx, false)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("call took %s after its context ended at 100ms", took)
	}
	var ne *wechat.NetError
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v; want a timeout NetError", err)
	}
}

// A success answer with errcode 0 or none at all is success; the body's
// content type does not matter (jscode2session answers text/plain).
func TestSuccessWithAndWithoutErrcode(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"access_token":"ACCESS_TOKEN_0123456789abcdef0123456789","expires_in":7200}`,
		`{"errcode":0,"errmsg":"ok","access_token":"ACCESS_TOKEN_0123456789abcdef0123456789","expires_in":7200}`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, body)
		}))
		defer srv.Close()
		c, _ := wechat.New(wechat.Config{AppID: appID, AppSecret: secret, BaseURL: srv.URL})
		tok, err := c.StableToken(context.Background(), false)
		if err != nil || tok.ExpiresIn != 7200*time.Second {
			t.Errorf("body %s: token %+v, err %v", body, tok, err)
		}
		if lv := tok.LogValue().String(); strings.Contains(lv, "ACCESS_TOKEN") {
			t.Errorf("Token.LogValue shows the token: %s", lv)
		}
	}
}
