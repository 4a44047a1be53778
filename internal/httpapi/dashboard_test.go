package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
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
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
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
