package sandbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/wxevent"
)

const (
	appID2  = sandboxtest.AppID2
	secret2 = sandboxtest.AppSecret2
	// bOrder is the second app's order template: real mini programs have
	// template ids of their own.
	bOrder = "AppBOrderArrived000000000000000000000000000"
)

// twoApps is a sandbox playing the primary app and AppID2, whose order
// template is bOrder.
type twoApps struct {
	*fixture
	b *sandbox.MiniProgram
}

func setupTwoApps(t *testing.T, mods ...func(*sandbox.Config)) *twoApps {
	t.Helper()
	own := func(c *sandbox.Config) { c.Apps[0].Templates[0].ID = bOrder }
	f := setup(t, append([]func(*sandbox.Config){sandboxtest.TwoApps, own}, mods...)...)
	b, err := f.sb.App(appID2)
	if err != nil {
		t.Fatal(err)
	}
	return &twoApps{fixture: f, b: b}
}

func (f *twoApps) exchange(t *testing.T, appid, secret, code string) answer {
	t.Helper()
	q := url.Values{"appid": {appid}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	return f.do(t, "GET", "/sns/jscode2session?"+q.Encode(), nil)
}

func (f *twoApps) stableOf(t *testing.T, appid, secret string) answer {
	t.Helper()
	return f.do(t, "POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": appid, "secret": secret})
}

// bSubscriber is a user of the second app holding n grants of bOrder.
func (f *twoApps) bSubscriber(t *testing.T, n int) string {
	t.Helper()
	_, openid := f.b.Login("", "", false)
	if _, err := f.b.Subscribe(openid, bOrder, sandbox.Accept, n); err != nil {
		t.Fatal(err)
	}
	return openid
}

// bBody is the order message of the second app.
func (f *twoApps) bBody(openid string) map[string]any {
	body := f.orderBody(openid)
	body["template_id"] = bOrder
	return body
}

// A code from wx.login in one mini program is worthless with another's
// credentials, and a refusal does not spend it.
func TestALoginCodeWorksOnlyInItsApp(t *testing.T) {
	t.Parallel()
	f := setupTwoApps(t)
	var minted struct{ Code, OpenID string }
	a := f.do(t, "POST", "/sandbox/login", map[string]any{"appid": appID2, "unionid": "u-both"})
	if err := json.Unmarshal([]byte(a.raw), &minted); err != nil || minted.Code == "" {
		t.Fatalf("POST /sandbox/login in app 2: %s", a.raw)
	}
	wantCode(t, "app 2's code with app 1's credentials", f.exchange(t, appID, secret, minted.Code), 40029)
	wantCode(t, "app 1's appid with app 2's secret", f.exchange(t, appID, secret2, minted.Code), 40125)
	if s := f.exchange(t, appID2, secret2, minted.Code); s.ErrCode != 0 || s.OpenID != minted.OpenID {
		t.Fatalf("app 2's code with app 2's credentials: %s; want openid %s", s.raw, minted.OpenID)
	}
	code, _ := f.sb.Login("", "", false)
	wantCode(t, "app 1's code with app 2's credentials", f.exchange(t, appID2, secret2, code), 40029)
	wantCode(t, "app 1's code with app 1's credentials", f.exchange(t, appID, secret, code), 0)
}

// Each app gets its own tokens, for its own secret only, and retiring one
// app's tokens leaves the other's working.
func TestTokensBelongToTheirApp(t *testing.T) {
	t.Parallel()
	f := setupTwoApps(t)
	wantCode(t, "stable_token: app 2 with app 1's secret", f.stableOf(t, appID2, secret), 40125)
	wantCode(t, "stable_token: an appid the sandbox does not play", f.stableOf(t, "wx0000000000000000", secret), 40013)
	legacy := f.do(t, "GET", "/cgi-bin/token?grant_type=client_credential&appid="+appID2+"&secret="+secret, nil)
	if legacy.ErrCode != 40001 || !strings.Contains(legacy.ErrMsg, "appsecret is wrong") {
		t.Fatalf("legacy token: app 2 with app 1's secret: %s; want 40001 appsecret is wrong", legacy.raw)
	}
	tokA, tokB := f.stable(t, false).AccessToken, f.stableOf(t, appID2, secret2).AccessToken
	if tokA == "" || tokB == "" || tokA == tokB {
		t.Fatalf("tokens %q and %q; want one of each app", tokA, tokB)
	}
	userA, userB := f.subscriber(t, 2), f.bSubscriber(t, 2)

	if r := f.do(t, "POST", "/sandbox/token/retire", nil); r.raw != "{\"retired\":1}\n" {
		t.Fatalf("retire without appid: %s; want app 1's one token retired", r.raw)
	}
	wantCode(t, "app 1's retired token", f.send(t, tokA, f.orderBody(userA)), 40001)
	wantCode(t, "app 2's token after app 1's were retired", f.send(t, tokB, f.bBody(userB)), 0)
	if r := f.do(t, "POST", "/sandbox/token/retire", map[string]any{"appid": appID2}); r.raw != "{\"retired\":1}\n" {
		t.Fatalf("retire app 2: %s; want its one token retired", r.raw)
	}
	wantCode(t, "app 2's retired token", f.send(t, tokB, f.bBody(userB)), 40001)
}

// A token sends only to its app's users and with its app's templates, and
// grants and messages stay in the app: even for the same openid string.
func TestASendStaysInTheTokensApp(t *testing.T) {
	t.Parallel()
	f := setupTwoApps(t)
	tokA, tokB := f.stable(t, false).AccessToken, f.stableOf(t, appID2, secret2).AccessToken
	userA, userB := f.subscriber(t, 1), f.bSubscriber(t, 2)

	wantCode(t, "app 1's token to app 2's user", f.send(t, tokA, f.orderBody(userB)), 40003)
	wantCode(t, "app 1's token with app 2's template", f.send(t, tokA, f.bBody(userA)), 40037)
	wantCode(t, "app 2's token to app 1's user", f.send(t, tokB, f.bBody(userA)), 40003)
	wantCode(t, "app 2's token, user and template", f.send(t, tokB, f.bBody(userB)), 0)

	const same = "o-one-openid-string-in-both"
	if _, err := f.sb.Subscribe(same, f.order.ID, sandbox.Accept, 1); err != nil {
		t.Fatal(err)
	}
	f.b.Login(same, "", false) // a user of app 2 too, without a grant there
	wantCode(t, "app 2's send on a grant given in app 1", f.send(t, tokB, f.bBody(same)), 43101)
	if g := f.sb.Grants(same, f.order.ID); g != 1 {
		t.Fatalf("app 1's grant %d after app 2's refused send; want 1", g)
	}
	if g, other := f.b.Grants(userB, bOrder), f.sb.Grants(userB, bOrder); g != 1 || other != 0 {
		t.Fatalf("grants of app 2's user: %d in app 2, %d in app 1; want 1 and 0", g, other)
	}

	if m := f.b.Messages("", ""); len(m) != 1 || m[0].OpenID != userB || m[0].TemplateID != bOrder {
		t.Fatalf("app 2's messages %+v; want the one to %s", m, userB)
	}
	if m := f.sb.Messages("", ""); len(m) != 0 {
		t.Fatalf("app 1's messages %+v; want none", m)
	}
	for _, tc := range []struct{ query, want string }{
		{"?appid=" + appID2, `"delivered":1,"messages":[{"msgid":`},
		{"", `"delivered":0,"messages":[]`},
		{"?appid=" + appID + "&openid=" + userB, `"delivered":0,"messages":[]`},
	} {
		if got := f.do(t, "GET", "/sandbox/messages"+tc.query, nil); !strings.Contains(got.raw, tc.want) {
			t.Errorf("GET /sandbox/messages%s: %s; want %s", tc.query, got.raw, tc.want)
		}
	}
}

// Each app's pushes go to its own server, signed with its own token and, in
// safe mode, encrypted for its own appid: app 1's server cannot read them.
func TestEachAppPushesToItsOwnServer(t *testing.T) {
	t.Parallel()
	const tokenB = "app-two-push-token"
	rcA, urlA := startReceiver(t, "success")
	rcB, urlB := startReceiver(t, "success")
	f := setupTwoApps(t, func(c *sandbox.Config) {
		c.Apps[0].Push = sandbox.Push{URL: urlB, Token: tokenB, AESKey: pushAESKey}
	})
	if err := f.sb.SetPush(sandbox.Push{URL: urlA, Token: pushToken}); err != nil {
		t.Fatal(err)
	}
	userB := f.bSubscriber(t, 1)
	userA := f.subscriber(t, 1)
	rcA.arrivals(t, 1)
	rcB.arrivals(t, 1)
	f.sb.WaitPushes() // no push is on its way: the counts below are final

	readers := func(token, aesKey, appid string) *wxevent.Verifier {
		v, err := wxevent.NewVerifier(token, aesKey, appid)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	open := func(v *wxevent.Verifier, a arrival) (*wxevent.Push, error) {
		return v.Open(wxevent.Params{Signature: a.query.Get("signature"), Timestamp: a.query.Get("timestamp"),
			Nonce: a.query.Get("nonce"), MsgSignature: a.query.Get("msg_signature")}, a.body)
	}
	gotB := rcB.arrivals(t, 1)
	if len(gotB) != 1 {
		t.Fatalf("app 2's server got %d pushes; want its user's one", len(gotB))
	}
	if p, err := open(readers(tokenB, pushAESKey, appID2), gotB[0]); err != nil || p.FromUserName != userB || len(p.Choices) != 1 || p.Choices[0].TemplateID != bOrder {
		t.Fatalf("app 2's push read with app 2's settings: %+v, %v; want %s accepting %s", p, err, userB, bOrder)
	}
	if _, err := open(readers(pushToken, pushAESKey, appID2), gotB[0]); !errors.Is(err, wxevent.ErrSignature) {
		t.Fatalf("app 2's push checked with app 1's token: %v; want a bad signature", err)
	}
	if _, err := open(readers(tokenB, pushAESKey, appID), gotB[0]); !errors.Is(err, wxevent.ErrBody) {
		t.Fatalf("app 2's push opened for app 1's appid: %v; want it encrypted for another appid", err)
	}
	gotA := rcA.arrivals(t, 1)
	if len(gotA) != 1 {
		t.Fatalf("app 1's server got %d pushes; want its user's one", len(gotA))
	}
	if p, err := open(readers(pushToken, "", appID), gotA[0]); err != nil || p.FromUserName != userA {
		t.Fatalf("app 1's push: %+v, %v; want one about %s", p, err, userA)
	}
}

// Controls naming an appid the sandbox does not play answer 400 and say so.
func TestControlsRefuseAnUnknownAppID(t *testing.T) {
	t.Parallel()
	f := setupTwoApps(t)
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/sandbox/login", map[string]any{"appid": "wxnope"}},
		{"POST", "/sandbox/subscriptions", map[string]any{"appid": "wxnope", "openid": "o-x", "template_id": f.order.ID}},
		{"GET", "/sandbox/messages?appid=wxnope", nil},
		{"POST", "/sandbox/token/retire", map[string]any{"appid": "wxnope"}},
	} {
		var rd io.Reader = http.NoBody
		if tc.body != nil {
			b, _ := json.Marshal(tc.body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(tc.method, f.url+tc.path, rd)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got.Error, `appid "wxnope" is not one of the sandbox's apps (`+appID+", "+appID2+")") {
			t.Errorf("%s %s: %d %q; want 400 naming the appid and the apps", tc.method, tc.path, resp.StatusCode, got.Error)
		}
	}
}

func TestNewRejectsBadApps(t *testing.T) {
	t.Parallel()
	base := func(apps ...sandbox.App) sandbox.Config {
		return sandbox.Config{AppID: appID, AppSecret: secret, Templates: sandbox.DefaultTemplates(), Apps: apps}
	}
	for _, tc := range []struct {
		cfg  sandbox.Config
		want string
	}{
		{base(sandbox.App{AppID: appID2}), "Config.Apps[0] " + appID2 + ": sandbox: AppID and AppSecret are required"},
		{base(sandbox.App{AppID: appID, AppSecret: "s"}), "appid " + appID + " is already one of the sandbox's apps"},
		{base(sandbox.App{AppID: appID2, AppSecret: "s", Push: sandbox.Push{URL: "http://x", AESKey: "short"}}), "sandbox push for " + appID2},
	} {
		if _, err := sandbox.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v; want an error containing %q", err, tc.want)
		}
	}
	// An app without templates plays the primary app's.
	sb, err := sandbox.New(base(sandbox.App{AppID: appID2, AppSecret: secret2}))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sb.App(appID2)
	if _, err := b.Subscribe("o-x", sandbox.DefaultTemplates()[0].ID, sandbox.Accept, 1); err != nil {
		t.Fatalf("app 2 without templates of its own: %v", err)
	}
	if ids := sb.AppIDs(); len(ids) != 2 || ids[0] != appID || ids[1] != appID2 {
		t.Fatalf("AppIDs() = %v", ids)
	}
}

// Secrets, for the leak tests, covers every app: its secret and what it issued.
func TestSecretsCoverEveryApp(t *testing.T) {
	t.Parallel()
	f := setupTwoApps(t)
	tokB := f.stableOf(t, appID2, secret2).AccessToken
	code, _ := f.b.Login("", "", false)
	f.exchange(t, appID2, secret2, code)
	all := strings.Join(f.sb.Secrets(), "\n")
	for name, v := range map[string]string{"app 1's secret": secret, "app 2's secret": secret2, "app 2's token": tokB} {
		if !strings.Contains(all, v) {
			t.Errorf("Secrets() lacks %s", name)
		}
	}
	if n := strings.Count(all, "\n") + 1; n != 4 {
		t.Errorf("Secrets() has %d entries; want 2 secrets, app 2's token and its session key", n)
	}
}
