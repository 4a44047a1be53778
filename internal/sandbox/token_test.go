package sandbox_test

import (
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
)

func TestStableTokenIsSharedRolledAndExpires(t *testing.T) {
	t.Parallel()
	f := setup(t) // WeChat's 7200 s lifetime, 5 min overlap
	first := f.stable(t, false)
	if first.AccessToken == "" || first.ExpiresIn != 7200 || first.ErrCode != 0 || strings.Contains(first.raw, "errcode") {
		t.Fatalf("first stable_token: %s; want a token, expires_in 7200 and no errcode", first.raw)
	}
	f.clock.Advance(time.Hour)
	again := f.stable(t, false)
	if again.AccessToken != first.AccessToken || again.ExpiresIn != 3600 {
		t.Fatalf("an hour later: token changed=%v expires_in %d; want the same token with 3600 s left", again.AccessToken != first.AccessToken, again.ExpiresIn)
	}

	// Within the last 5 minutes WeChat rolls: a new token, the old one still works.
	f.clock.Advance(time.Hour - 4*time.Minute)
	rolled := f.stable(t, false)
	if rolled.AccessToken == first.AccessToken || rolled.ExpiresIn != 7200 {
		t.Fatalf("4 min before expiry: %s; want a new token with 7200 s", rolled.raw)
	}
	openid := f.subscriber(t, 2)
	wantCode(t, "old token during the overlap", f.send(t, first.AccessToken, f.orderBody(openid)), 0)
	f.clock.Advance(4 * time.Minute)
	wantCode(t, "old token past its expiry", f.send(t, first.AccessToken, f.orderBody(openid)), 42001)
	wantCode(t, "new token", f.send(t, rolled.AccessToken, f.orderBody(openid)), 0)
}

func TestForceRefreshRetiresAndIsLimited(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *sandbox.Config) { c.Quotas.ForceRefreshPerDay = 2 })
	openid := f.subscriber(t, 5)
	old := f.stable(t, false).AccessToken
	forced := f.stable(t, true)
	if forced.ErrCode != 0 || forced.AccessToken == old {
		t.Fatalf("force_refresh: %s; want a new token", forced.raw)
	}
	wantCode(t, "token retired by force_refresh", f.send(t, old, f.orderBody(openid)), 40001)
	wantCode(t, "force_refresh again within 30 s", f.stable(t, true), 45011)
	f.clock.Advance(31 * time.Second)
	wantCode(t, "second force_refresh of the day", f.stable(t, true), 0)
	f.clock.Advance(31 * time.Second)
	wantCode(t, "third force_refresh, limit 2 a day", f.stable(t, true), 45009)
	// Normal mode is untouched by the limit.
	wantCode(t, "normal mode", f.stable(t, false), 0)
}

// Every legacy call leaves the previous token 5 minutes, then it is "not
// latest" (40001): how replicas each calling /cgi-bin/token knock each other out.
func TestLegacyTokenInvalidatesThePrevious(t *testing.T) {
	t.Parallel()
	f := setup(t)
	openid := f.subscriber(t, 5)
	stable := f.stable(t, false).AccessToken
	a := f.legacy(t)
	b := f.legacy(t)
	if a.AccessToken == "" || b.AccessToken == a.AccessToken || b.ExpiresIn != 7200 {
		t.Fatalf("two legacy calls: %s then %s; want two different tokens", a.raw, b.raw)
	}
	wantCode(t, "previous legacy token within 5 minutes", f.send(t, a.AccessToken, f.orderBody(openid)), 0)
	f.clock.Advance(5 * time.Minute)
	wantCode(t, "previous legacy token after 5 minutes", f.send(t, a.AccessToken, f.orderBody(openid)), 40001)
	wantCode(t, "latest legacy token", f.send(t, b.AccessToken, f.orderBody(openid)), 0)
	wantCode(t, "the stable token is independent of legacy calls", f.send(t, stable, f.orderBody(openid)), 0)
}

func TestTokenEndpointsRefuseBadCredentials(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *sandbox.Config) { c.Quotas.LegacyTokenPerDay = 1 })
	wantCode(t, "stable wrong appid", f.do(t, "POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": "wxother", "secret": secret}), 40013)
	wantCode(t, "stable wrong secret", f.do(t, "POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": appID, "secret": "nope"}), 40125)
	wantCode(t, "stable wrong grant_type", f.do(t, "POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "password", "appid": appID, "secret": secret}), 40002)
	wantCode(t, "legacy wrong secret", f.do(t, "GET", "/cgi-bin/token?grant_type=client_credential&appid="+appID+"&secret=nope", nil), 40001)
	wantCode(t, "legacy within quota", f.legacy(t), 0)
	wantCode(t, "legacy over its daily quota", f.legacy(t), 45009)
	f.clock.Advance(24 * time.Hour)
	wantCode(t, "legacy the next day", f.legacy(t), 0)
	if got := f.sb.Calls()[sandbox.EndpointToken]; got.Calls != 4 || got.Outcomes["45009"] != 1 || got.Outcomes["40001"] != 1 {
		t.Fatalf("legacy call counts %+v; want 4 calls, one 45009, one 40001", got)
	}
}

// RetireTokens plays a leaked-token response: every current token answers
// 40001 and stable_token issues a new one.
func TestRetireTokens(t *testing.T) {
	t.Parallel()
	f := setup(t)
	openid := f.subscriber(t, 2)
	old := f.stable(t, false).AccessToken
	if n := f.do(t, "POST", "/sandbox/token/retire", nil); n.raw != "{\"retired\":1}\n" {
		t.Fatalf("retire answered %s; want 1 retired", n.raw)
	}
	wantCode(t, "retired token", f.send(t, old, f.orderBody(openid)), 40001)
	fresh := f.stable(t, false).AccessToken
	if fresh == old {
		t.Fatal("stable_token handed out the retired token again")
	}
	wantCode(t, "token issued after retirement", f.send(t, fresh, f.orderBody(openid)), 0)
}
