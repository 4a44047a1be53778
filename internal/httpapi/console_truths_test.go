package httpapi_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"wxnotify/internal/task"
	"wxnotify/internal/wechat"
)

// The console's small truths, each as an operator found it in a browser.

// A search is posted, so an openid typed into it stays out of the address
// bar and the history: the answer to the POST is the results page itself,
// not a redirect to a URL with the query. A GET with ?q= still works for
// links.
func TestConsoleSearchIsPosted(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	s := seedConsole(t, e)
	front := e.page("/admin/", true)
	if !strings.Contains(front.body, `<form method="post" action="/admin/" class="search">`) {
		t.Fatalf("the search form does not post:\n%s", front.body)
	}
	req, _ := http.NewRequest("POST", e.url+"/admin/", strings.NewReader(url.Values{"q": {s.openid}, "template": {""}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(adminUser, adminPass)
	r := e.send(req)
	if r.status != 200 || r.header.Get("Location") != "" || !strings.Contains(r.raw, `href="/admin/users/`+s.user+`"`) ||
		!strings.Contains(r.raw, "found by openid "+wechat.MaskOpenID(s.openid)) || strings.Contains(r.raw, s.openid) {
		t.Fatalf("POST /admin/ with an openid: %d, Location %q, found the user: %v, clear openid: %v", r.status, r.header.Get("Location"),
			strings.Contains(r.raw, "found by openid"), strings.Contains(r.raw, s.openid))
	}
	if p := e.page("/admin/?q=order-77", true); !strings.Contains(p.body, `href="/admin/notifications/`+s.id+`"`) {
		t.Errorf("GET /admin/?q=order-77 no longer finds it")
	}
}

// An id copied from asynqmon (the task id: a dot for the dash) finds the
// notification, and its page is the notification's.
func TestConsoleTakesAsynqmonsTaskID(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	s := seedConsole(t, e)
	dotted := task.TaskID(s.id)
	if p := e.page("/admin/?q="+dotted, true); !strings.Contains(p.body, `href="/admin/notifications/`+s.id+`"`) {
		t.Errorf("searching %s finds nothing", dotted)
	}
	req, _ := http.NewRequest("GET", e.url+"/admin/notifications/"+dotted, nil)
	req.SetBasicAuth(adminUser, adminPass)
	client := *e.client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p := page{status: resp.StatusCode, header: resp.Header}
	if p.status != http.StatusMovedPermanently || p.header.Get("Location") != "/admin/notifications/"+s.id {
		t.Errorf("GET /admin/notifications/%s: %d to %q; want 301 to the notification's page", dotted, p.status, p.header.Get("Location"))
	}
	if p := e.page("/admin/notifications/order_arrived."+strings.Repeat("0", 31), true); p.status != 400 {
		t.Errorf("a dotted id one digit short: %d; want 400", p.status)
	}
}

// A user who never logged in is "not bound", masked (the id may be an
// openid nobody bound): not "an openid".
func TestConsoleSaysNotBound(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	id, _ := e.notify("order_arrived", "shop-user-never", "never-1")
	label := wechat.MaskOpenID("shop-user-never") + " (not bound, masked)"
	for _, path := range []string{"/admin/notifications/" + id, "/admin/users/shop-user-never", "/admin/?q=shop-user-never"} {
		body := html.UnescapeString(e.page(path, true).body)
		if !strings.Contains(body, label) || strings.Contains(body, "an openid, masked") || strings.Contains(body, "shop-user-never") {
			t.Errorf("GET %s: says not bound %v, says an openid %v, shows the id %v", path, strings.Contains(body, label),
				strings.Contains(body, "an openid, masked"), strings.Contains(body, "shop-user-never"))
		}
	}
	if body := e.page("/admin/notifications/"+id, true).body; !strings.Contains(body, `<dt>openid</dt><dd><span class="muted">not bound</span>`) {
		t.Errorf("the notification's openid is not 'not bound'")
	}
}

// Under /admin/ the credentials come first, whatever the method or path:
// without them, a 401 and nothing on what is served there; with them,
// HEAD is GET without a body, another method a 405 saying what is allowed,
// an unknown path a 404.
func TestConsoleAsksForCredentialsFirst(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	do := func(method, path string, auth bool) reply {
		t.Helper()
		req, _ := http.NewRequest(method, e.url+path, nil)
		if auth {
			req.SetBasicAuth(adminUser, adminPass)
		}
		return e.send(req)
	}
	for _, c := range []struct{ method, path string }{
		{"HEAD", "/admin/"}, {"HEAD", "/admin/feed"}, {"PUT", "/admin/"}, {"DELETE", "/admin/feed"},
		{"POST", "/admin/notifications/order_arrived-" + strings.Repeat("0", 32)}, {"GET", "/admin/no-such-page"}, {"PATCH", "/admin"},
	} {
		if r := do(c.method, c.path, false); r.status != 401 || r.header.Get("WWW-Authenticate") == "" || r.header.Get("Allow") != "" {
			t.Errorf("%s %s without credentials: %d, Allow %q; want 401 asking for them", c.method, c.path, r.status, r.header.Get("Allow"))
		}
	}
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"HEAD", "/admin/", 200, ""}, {"HEAD", "/admin/outcomes", 200, ""}, {"PUT", "/admin/", 405, "GET, HEAD, POST"},
		{"DELETE", "/admin/feed", 405, "GET, HEAD"}, {"GET", "/admin/no-such-page", 404, ""},
	} {
		r := do(c.method, c.path, true)
		if r.status != c.status || !sameMethods(r.header.Get("Allow"), c.allow) {
			t.Errorf("%s %s with credentials: %d, Allow %q; want %d, %q", c.method, c.path, r.status, r.header.Get("Allow"), c.status, c.allow)
		}
	}
	// Outside /admin/ nothing changed: the API's 405 says what it allows.
	if r := do("PUT", "/v1/notifications", false); r.status != 405 || r.header.Get("Allow") == "" {
		t.Errorf("PUT /v1/notifications: %d, Allow %q", r.status, r.header.Get("Allow"))
	}
}

// sameMethods compares two Allow headers as sets.
func sameMethods(a, b string) bool {
	set := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				m[x] = true
			}
		}
		return m
	}
	x, y := set(a), set(b)
	if len(x) != len(y) {
		return false
	}
	for k := range x {
		if !y[k] {
			return false
		}
	}
	return true
}

// ?app= left empty, as a form's empty choice sends it, is the first app.
func TestConsoleEmptyAppIsTheFirst(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true, twoApps: true})
	for _, path := range []string{"/admin/?app=", "/admin/outcomes?app=", "/admin/feed?app="} {
		p := e.page(path, true)
		if p.status != 200 || !strings.Contains(p.body, `aria-current="true">shop</a>`) {
			t.Errorf("GET %s: %d; want shop's page", path, p.status)
		}
	}
}
