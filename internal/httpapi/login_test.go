package httpapi_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
)

func TestLoginBindsTheOpenID(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	code, openid := e.sb.Login("", "union-7", false)
	r := e.do("POST", "/v1/wx/login", "", map[string]string{"code": code})
	e.want(r, 200, "")
	if str(r.body, "user_id") != openid || !regexp.MustCompile(`^`+sandboxtest.AppID+`\.[A-Za-z0-9_-]{43}$`).MatchString(str(r.body, "session_token")) {
		t.Fatalf("login answered %s; want user_id = openid %s and a token of the appid, a dot and 43 characters", r.raw, openid)
	}
	exp, err := time.Parse(time.RFC3339, str(r.body, "expires_at"))
	if err != nil || time.Until(exp) < 23*time.Hour || time.Until(exp) > 25*time.Hour {
		t.Fatalf("expires_at %q; want about now + the 24h session TTL", str(r.body, "expires_at"))
	}
	if got := e.rdb.HGet(t.Context(), "wxnotify:{"+"wx0123456789abcdef:u:"+openid+"}:binding", "unionid").Val(); got != "union-7" {
		t.Fatalf("binding's unionid %q; want union-7", got)
	}

	// The same code again: WeChat says used; the mini program must wx.login again.
	again := e.do("POST", "/v1/wx/login", "", map[string]string{"code": code})
	e.want(again, 401, "invalid_code")
	if again.errField() != "code" {
		t.Fatalf("field %q; want code", again.errField())
	}
}

func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": "never-issued"}), 401, "invalid_code")
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": ""}), 400, "invalid_field")
	e.want(e.do("POST", "/v1/wx/login", "", map[string]any{"code": 42}), 400, "invalid_field")
	e.want(e.do("POST", "/v1/wx/login", "", map[string]any{"code": "x", "user_id": "me"}), 400, "unknown_field")
	e.want(e.do("POST", "/v1/wx/login", "", "{not json"), 400, "invalid_json")
	e.want(e.do("POST", "/v1/wx/login", "", ""), 400, "invalid_json")

	blocked, _ := e.sb.Login("", "", true)
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": blocked}), 403, "user_blocked")
}

func TestLoginWhenWeChatIsBusyOrLimited(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		errcode  int
		minRetry int
	}{{-1, 1}, {45011, 60}} {
		e := setup(t, options{sandboxMods: []func(*sandbox.Config){func(c *sandbox.Config) {
			c.Faults.Script = []sandbox.Scripted{{Endpoint: sandbox.EndpointCode2Session, ErrCode: tc.errcode}}
		}}})
		code, _ := e.sb.Login("", "", false)
		r := e.do("POST", "/v1/wx/login", "", map[string]string{"code": code})
		e.want(r, 503, "wechat_unavailable")
		if n, _ := strconv.Atoi(r.header.Get("Retry-After")); n < tc.minRetry {
			t.Fatalf("errcode %d: Retry-After %q; want at least %d", tc.errcode, r.header.Get("Retry-After"), tc.minRetry)
		}
	}
}

func TestLoginWithOurCredentialsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, options{sandboxMods: []func(*sandbox.Config){func(c *sandbox.Config) { c.Faults.SecretFrozen = true }}})
	code, _ := e.sb.Login("", "", false)
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": code}), 502, "wechat_error")
}

func TestLoginRateLimitPerIP(t *testing.T) {
	t.Parallel()
	e := setup(t, options{loginPerMin: 2})
	for range 2 {
		e.login("")
	}
	code, _ := e.sb.Login("", "", false)
	r := e.do("POST", "/v1/wx/login", "", map[string]string{"code": code})
	e.want(r, 429, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

func signJWT(t *testing.T, key string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// With the business's JWT configured, its subject is the user id, and every
// bad token is refused before the single-use code is spent.
func TestLoginWithJWT(t *testing.T) {
	t.Parallel()
	e := setup(t, options{jwt: true})
	hour := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name, auth, reason string
	}{
		{"missing", "", "send your auth's JWT"},
		{"not bearer", "Basic dXNlcjpwYXNz", "send your auth's JWT"},
		{"malformed", "Bearer not-a-jwt", "not a JWT"},
		{"expired", bearer(signJWT(t, jwtSecret, jwt.MapClaims{"sub": "shop-user-1", "exp": time.Now().Add(-time.Hour).Unix()})), "expired"},
		{"not yet valid", bearer(signJWT(t, jwtSecret, jwt.MapClaims{"sub": "shop-user-1", "exp": hour, "nbf": hour})), "not valid yet"},
		{"wrongly signed", bearer(signJWT(t, strings.Repeat("x", 40), jwt.MapClaims{"sub": "shop-user-1", "exp": hour})), "signature"},
		{"no subject", bearer(signJWT(t, jwtSecret, jwt.MapClaims{"exp": hour})), `"sub"`},
	} {
		code, _ := e.sb.Login("", "", false)
		r := e.do("POST", "/v1/wx/login", tc.auth, map[string]string{"code": code})
		if r.status != 401 || !strings.Contains(str(r.body, "error", "message"), tc.reason) {
			t.Errorf("%s: %d %s; want 401 mentioning %q", tc.name, r.status, r.raw, tc.reason)
		}
		// The code was not spent on a refused request.
		if r := e.do("POST", "/v1/wx/login", bearer(signJWT(t, jwtSecret, jwt.MapClaims{"sub": "u-" + strings.ReplaceAll(tc.name, " ", "-"), "exp": hour})), map[string]string{"code": code}); r.status != 200 {
			t.Errorf("%s: the code no longer works after the refusal: %s", tc.name, r.raw)
		}
	}

	code, openid := e.sb.Login("", "", false)
	r := e.do("POST", "/v1/wx/login", bearer(signJWT(t, jwtSecret, jwt.MapClaims{"sub": "shop-user-1", "exp": hour})), map[string]string{"code": code})
	e.want(r, 200, "")
	if str(r.body, "user_id") != "shop-user-1" {
		t.Fatalf("user_id %q; want the JWT subject shop-user-1", str(r.body, "user_id"))
	}
	if got := e.rdb.Get(t.Context(), "wxnotify:wx0123456789abcdef:openid:"+openid).Val(); got != "shop-user-1" {
		t.Fatalf("openid index → %q; want shop-user-1", got)
	}
}
