package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// publicRoutes answer without credentials; everything else the router
// serves must refuse a request without them, or with wrong ones.
var publicRoutes = map[string]bool{
	"GET /healthz": true, "GET /readyz": true, "GET /metrics": true, "GET /openapi.yaml": true,
	"HEAD /healthz": true, "HEAD /readyz": true,
	"POST /v1/wx/login":       true, // the code is the credential (and the JWT when configured)
	"GET /v1/wx/events":       true, // WeChat's pushes carry a signature, tested in events_test.go
	"POST /v1/wx/events":      true,
	"GET /v1/wx/events/:app":  true,
	"POST /v1/wx/events/:app": true,
}

func TestEveryNonPublicRouteRefusesMissingOrWrongCredentials(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	checked := 0
	for _, rt := range e.router.Routes() {
		if publicRoutes[rt.Method+" "+rt.Path] {
			continue
		}
		path := strings.NewReplacer(":id", "order_arrived-0", "*any", "api/queues").Replace(rt.Path)
		for name, auth := range map[string]func(*http.Request){
			"none":          func(*http.Request) {},
			"wrong bearer":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer order-service-key-9999") },
			"basic instead": func(r *http.Request) { r.SetBasicAuth(adminUser, "wrong-password-123") },
			"empty bearer":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") },
		} {
			req, _ := http.NewRequest(rt.Method, e.url+path, strings.NewReader(`{}`))
			auth(req)
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %s credentials: %d; want 401", rt.Method, path, name, resp.StatusCode)
			}
		}
		checked++
	}
	if checked < 6 {
		t.Fatalf("only %d protected routes checked; the router lost some", checked)
	}
	t.Logf("FIGURE auth: %d protected routes × 4 kinds of missing or wrong credentials, all 401", checked)
}
