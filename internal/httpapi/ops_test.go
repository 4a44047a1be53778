package httpapi_test

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"wxnotify/internal/httpapi"
	"wxnotify/internal/redistest"
)

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.want(e.do("GET", "/healthz", "", nil), 200, "")
	e.want(e.do("GET", "/readyz", "", nil), 200, "")
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := e.do("HEAD", path, "", nil); r.status != 200 || r.raw != "" {
			t.Errorf("HEAD %s: %d %q; want 200 and no body (load balancers probe with HEAD)", path, r.status, r.raw)
		}
	}
	e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-1", "order-m"))
	e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-1", "order-m"))
	m := e.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`wxnotify_http_requests_total{method="POST",route="/v1/notifications",status="202"} 1`,
		`wxnotify_http_requests_total{method="POST",route="/v1/notifications",status="200"} 1`,
		`wxnotify_http_request_duration_seconds_bucket{method="GET",route="/readyz"`,
		`wxnotify_notifications_enqueued_total{app="shop",outcome="accepted",template="order_arrived"} 1`,
		`wxnotify_notifications_enqueued_total{app="shop",outcome="duplicate",template="order_arrived"} 1`,
	} {
		if !strings.Contains(m.raw, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestUnknownRoutesAndMethodsAnswerJSON(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.want(e.do("GET", "/v2/anything", "", nil), 404, "not_found")
	e.want(e.do("DELETE", "/v1/notifications", bearer(apiKey), nil), 405, "method_not_allowed")
}

// The OpenAPI document and the router describe the same endpoints.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	r := e.do("GET", "/openapi.yaml", "", nil)
	e.want(r, 200, "")
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal([]byte(r.raw), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.yaml: version %q, %v", doc.OpenAPI, err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "description" || method == "parameters" || method == "summary" {
				continue // a path's own fields, not operations
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	param := regexp.MustCompile(`:(\w+)`)
	var routed []string
	for _, rt := range e.router.Routes() {
		if strings.HasPrefix(rt.Path, httpapi.DashboardPath) {
			continue // asynqmon's own UI and API
		}
		if strings.HasPrefix(rt.Path, httpapi.ConsolePath+"/") {
			continue // the operator console's HTML pages
		}
		routed = append(routed, rt.Method+" "+param.ReplaceAllString(rt.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(routed)
	if !slices.Equal(documented, routed) {
		t.Fatalf("routes and openapi.yaml disagree:\nrouted:     %v\ndocumented: %v", routed, documented)
	}
}

func TestDashboardBehindBasicAuth(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	get := func(path string, auth bool) (*http.Response, string) {
		req, _ := http.NewRequest("GET", e.url+path, nil)
		if auth {
			req.SetBasicAuth(adminUser, adminPass)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, path := range []string{"/admin/asynq/", "/admin/asynq/api/queues", "/admin/asynq/static/js/main.js"} {
		if resp, _ := get(path, false); resp.StatusCode != 401 {
			t.Errorf("%s without auth: %d; want 401", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", e.url+"/admin/asynq/", nil)
	req.SetBasicAuth(adminUser, "wrong-password-123")
	if resp, err := e.client.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("wrong password: %v %v", resp.StatusCode, err)
	}

	resp, page := get("/admin/asynq/", true)
	if resp.StatusCode != 200 || !strings.Contains(page, "<html") {
		t.Fatalf("dashboard page: %d", resp.StatusCode)
	}
	// Every static file the page loads is served under the sub-path.
	assets := regexp.MustCompile(`(?:src|href)="(/admin/asynq/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(assets) == 0 {
		t.Fatalf("the page references no assets under /admin/asynq/: %.300s", page)
	}
	for _, a := range assets {
		if resp, _ := get(a[1], true); resp.StatusCode != 200 {
			t.Errorf("asset %s: %d", a[1], resp.StatusCode)
		}
	}
	// The UI's API works under the sub-path and sees our queue.
	e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-1", "order-dash"))
	resp, queues := get("/admin/asynq/api/queues", true)
	if resp.StatusCode != 200 || !strings.Contains(queues, `"queue":"notifications"`) {
		t.Fatalf("dashboard API: %d %s", resp.StatusCode, queues)
	}
	if resp, _ := get("/admin/asynq", true); resp.Request.URL.Path != "/admin/asynq/" {
		t.Fatalf("/admin/asynq did not redirect to /admin/asynq/ (ended at %s)", resp.Request.URL.Path)
	}
}

// With Redis stopped, every endpoint that needs it answers 503 quickly,
// never 500 and never a hang; /healthz stays up.
func TestRedisStoppedAnswers503(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.Config{})
	e := setup(t, options{redisURL: srv.URL(0)})
	token, _ := e.login("")
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	code, _ := e.sb.Login("", "", false)
	for _, tc := range []struct {
		method, path, auth string
		body               any
	}{
		{"POST", "/v1/notifications", bearer(apiKey), orderRequest("u-1", "order-down")},
		{"GET", "/v1/notifications/order_arrived-0", bearer(apiKey), nil},
		{"POST", "/v1/wx/login", "", map[string]string{"code": code}},
		{"GET", "/v1/subscriptions", bearer(token), nil},
		{"GET", "/readyz", "", nil},
		{"HEAD", "/readyz", "", nil},
	} {
		start := time.Now()
		r := e.do(tc.method, tc.path, tc.auth, tc.body)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s %s took %s with Redis down", tc.method, tc.path, took)
		}
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s with Redis down: %d %s; want 503 with Retry-After", tc.method, tc.path, r.status, r.raw)
		}
	}
	e.want(e.do("GET", "/healthz", "", nil), 200, "")
	e.want(e.do("HEAD", "/healthz", "", nil), 200, "")

	// The refused login did not spend the user's code: once Redis is back, it works.
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": code}), 200, "")
	e.want(e.do("GET", "/readyz", "", nil), 200, "")
}

// A full flow at debug level logs no secret: app secret, API key, session
// token, wx.login code, or a whole openid.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	code, openid := e.sb.Login("", "", false)
	r := e.do("POST", "/v1/wx/login", "", map[string]string{"code": code})
	token := str(r.body, "session_token")
	e.do("POST", "/v1/subscriptions", bearer(token), map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"})
	req := orderRequest("", "order-logs")
	delete(req, "user_id")
	req["openid"] = openid
	e.do("POST", "/v1/notifications", bearer(apiKey), req)
	e.do("POST", "/v1/notifications", "Bearer wrong-key-but-long-enough", req)
	logs := e.logs.String()
	if !strings.Contains(logs, `"route":"/v1/wx/login","status":200`) {
		t.Fatalf("no login line in the logs: %s", logs)
	}
	for name, secret := range map[string]string{"app secret": "s3cr3t-app-secret-never-logged", "API key": apiKey, "wrong key": "wrong-key-but-long-enough", "session token": token, "code": code, "openid": openid} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}
