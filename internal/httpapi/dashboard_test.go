package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"wxnotify/internal/task"
)

// admin sends a dashboard request with the admin's credentials and the
// given headers.
func (e *env) admin(method, path string, header map[string]string) reply {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, nil)
	req.SetBasicAuth(adminUser, adminPass)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return e.send(req)
}

// paused asks asynq itself whether the notifications queue is paused.
func (e *env) paused() bool {
	e.t.Helper()
	info, err := asynq.NewInspectorFromRedisClient(e.rdb).GetQueueInfo(task.QueueName)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.Paused
}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// The page loads nothing from another host and nothing that needs a
// request without credentials, and its policy admits exactly its own
// inline scripts — on every path the single-page app answers.
func TestDashboardPageStaysOnItsOrigin(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	for _, path := range []string{"/admin/asynq/", "/admin/asynq/queues/notifications", "/admin/asynq/queues/notifications/tasks/order_arrived.0123456789abcdef0123456789abcdef"} {
		r := e.admin("GET", path, nil)
		csp := r.header.Get("Content-Security-Policy")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.raw, `<div id="root">`) {
			t.Fatalf("GET %s: %d %s %.200s", path, r.status, r.header.Get("Content-Type"), r.raw)
		}
		for _, banned := range []string{"googleapis", "://", `rel="manifest"`} {
			if strings.Contains(r.raw, banned) {
				t.Errorf("GET %s: the page still has %q", path, banned)
			}
		}
		for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
			t.Errorf("policy %q lets scripts be evaluated or injected", csp)
		}
		scripts := inlineScript.FindAllStringSubmatch(r.raw, -1)
		if len(scripts) != 2 {
			t.Fatalf("%d inline scripts; want asynqmon's 2 (flags, webpack loader)", len(scripts))
		}
		for _, s := range scripts {
			sum := sha256.Sum256([]byte(s[1]))
			if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, h) {
				t.Errorf("policy %q does not admit the inline script %.60q (%s)", csp, s[1], h)
			}
		}
	}
	// asynqmon's own files pass through as they were, under the same policy.
	js := e.admin("GET", "/admin/asynq/static/js/runtime-main.9fea6c1a.js", nil)
	if js.status != 200 || !strings.HasPrefix(js.header.Get("Content-Type"), "application/javascript") || js.header.Get("Content-Security-Policy") == "" || len(js.raw) < 1000 {
		t.Fatalf("a script: %d %s, %d bytes", js.status, js.header.Get("Content-Type"), len(js.raw))
	}
}

// A page of another origin cannot act through the admin's browser: a
// plain form POST to the pause endpoint is refused whatever credentials
// the browser attaches, and the queue stays as it was. The dashboard's own
// pages, and clients that are no browser, still act.
func TestDashboardRefusesActionsFromOtherOrigins(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	e.want(e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-1", "order-1")), 202, "")
	host := strings.TrimPrefix(e.url, "http://")
	const pause, resume = "/admin/asynq/api/queues/notifications:pause", "/admin/asynq/api/queues/notifications:resume"
	for name, h := range map[string]map[string]string{
		"cross-site form":            {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		"same-site page":             {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},
		"old browser, other origin":  {"Origin": "https://evil.example"},
		"old browser, opaque origin": {"Origin": "null"},
		"old browser, https page":    {"Origin": "https://" + host}, // the scheme counts
	} {
		r := e.admin("POST", pause, h)
		e.want(r, http.StatusForbidden, "cross_origin")
		if e.paused() {
			t.Fatalf("%s: the queue was paused", name)
		}
	}
	// Refused before authentication: without credentials too.
	req, _ := http.NewRequest("POST", e.url+pause, nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := e.client.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site POST without credentials: %v %v; want 403", resp.StatusCode, err)
	}
	// Reading is no action: a cross-site GET is left to authentication.
	if r := e.admin("GET", "/admin/asynq/api/queues", map[string]string{"Sec-Fetch-Site": "cross-site"}); r.status != 200 {
		t.Fatalf("GET from another site: %d", r.status)
	}
	for name, h := range map[string]map[string]string{
		"the dashboard's page":     {"Sec-Fetch-Site": "same-origin", "Origin": e.url},
		"typed by the user":        {"Sec-Fetch-Site": "none"},
		"old browser, same origin": {"Origin": e.url},
		"curl":                     nil,
	} {
		if r := e.admin("POST", pause, h); r.status != http.StatusNoContent || !e.paused() {
			t.Fatalf("%s: pause answered %d %s, paused %v; want 204 and paused", name, r.status, r.raw, e.paused())
		}
		if r := e.admin("POST", resume, h); r.status != http.StatusNoContent || e.paused() {
			t.Fatalf("%s: resume answered %d %s", name, r.status, r.raw)
		}
	}
	// The rest of the API is no admin page: its clients are servers and the
	// mini program, and an Origin header changes nothing there.
	req, _ = http.NewRequest("GET", e.url+"/healthz", nil)
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := e.client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz with a foreign Origin: %v %v", resp.StatusCode, err)
	}
}

// Behind a TLS-terminating proxy the page's origin is https: an old
// browser's Origin matches only if a trusted proxy says so.
func TestDashboardOriginBehindAProxy(t *testing.T) {
	t.Parallel()
	const pause = "/admin/asynq/api/queues/notifications:pause"
	untrusted := setup(t, options{dashboard: true})
	h := map[string]string{"Origin": "https://" + strings.TrimPrefix(untrusted.url, "http://"), "X-Forwarded-Proto": "https"}
	untrusted.want(untrusted.admin("POST", pause, h), http.StatusForbidden, "cross_origin")

	trusted := setup(t, options{dashboard: true, proxies: []string{"127.0.0.1", "::1"}})
	h["Origin"] = "https://" + strings.TrimPrefix(trusted.url, "http://")
	if r := trusted.admin("POST", pause, h); r.status != http.StatusNoContent {
		t.Fatalf("through a trusted proxy: %d %s; want 204", r.status, r.raw)
	}
}

// The dashboard shows payloads as the logs do: openids masked, and user
// ids too where they are openids (no business JWT).
func TestDashboardMasksOpenIDs(t *testing.T) {
	t.Parallel()
	for _, jwt := range []bool{false, true} {
		e := setup(t, options{dashboard: true, jwt: jwt})
		const openid, user = "o-dashboard-openid-00000000000000A1b2", "shop-user-77"
		req := orderRequest(user, "order-by-user")
		byOpenID := orderRequest("", "order-by-openid")
		delete(byOpenID, "user_id")
		byOpenID["openid"] = openid
		e.want(e.do("POST", "/v1/notifications", bearer(apiKey), req), 202, "")
		e.want(e.do("POST", "/v1/notifications", bearer(apiKey), byOpenID), 202, "")

		r := e.admin("GET", "/admin/asynq/api/queues/notifications/pending_tasks", nil)
		var list struct {
			Tasks []struct{ ID, Payload string }
		}
		if err := json.Unmarshal([]byte(r.raw), &list); err != nil || len(list.Tasks) != 2 {
			t.Fatalf("pending tasks: %d %s (%v)", r.status, r.raw, err)
		}
		seen := map[string]string{}
		for _, task := range list.Tasks {
			if strings.Contains(task.Payload, openid) || strings.Contains(task.ID, "-") {
				t.Errorf("task %s shows %s", task.ID, task.Payload)
			}
			var p map[string]any
			if err := json.Unmarshal([]byte(task.Payload), &p); err != nil {
				t.Fatalf("payload %q: %v", task.Payload, err)
			}
			seen[p["dedupe_key"].(string)], _ = p["user_id"].(string)
			if o, ok := p["openid"]; ok && o != "…A1b2" {
				t.Errorf("openid shown as %v; want …A1b2", o)
			}
		}
		// Named by openid and bound to nobody, the user id is the openid.
		wantUser := map[bool]string{false: "…r-77", true: user}[jwt]
		if seen["order-by-openid"] != "…A1b2" || seen["order-by-user"] != wantUser {
			t.Errorf("jwt %v: user ids shown as %v; want …A1b2 and %s", jwt, seen, wantUser)
		}
	}
}
