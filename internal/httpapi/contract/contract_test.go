package contract_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"wxnotify/internal/httpapi"
	"wxnotify/internal/httpapi/contract"
)

// The document the API serves is valid OpenAPI 3 by kin-openapi's reading
// (a second, independent validator runs in .ci/run: deploy/openapi).
func TestServedDocumentIsValidOpenAPI(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths.Len() < 9 {
		t.Fatalf("openapi %q with %d paths; want 3.x with every route", doc.OpenAPI, doc.Paths.Len())
	}
}

// The mistake this check was added for: an unquoted comma in a YAML flow
// mapping makes a stray key, which parses as YAML but is not OpenAPI.
func TestStrayKeyFromUnquotedCommaIsRejected(t *testing.T) {
	t.Parallel()
	fixed := `user_id: {type: string, description: "the JWT's user id, or the openid without JWT configuration"}`
	broken := `user_id: {type: string, description: the JWT's user id, or the openid without JWT configuration}`
	doc := httpapi.OpenAPI()
	if !bytes.Contains(doc, []byte(fixed)) {
		t.Fatalf("openapi.yaml no longer holds %s; update this test", fixed)
	}
	_, err := contract.Parse(bytes.Replace(doc, []byte(fixed), []byte(broken), 1))
	if err == nil || !strings.Contains(err.Error(), "or the openid without JWT configuration") {
		t.Fatalf("the broken document was accepted or refused for another reason: %v", err)
	}
}

// The checker refuses what the document does not allow: a check that cannot
// fail would hold nothing.
func TestCheckerRefusesUndeclaredAnswers(t *testing.T) {
	t.Parallel()
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	const errBody = `{"error":{"code":"unauthorized","message":"no","field":""}}`
	const noField = `{"error":{"code":"unauthorized","message":"no"}}`
	jsonType := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	retry := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Retry-After": {"1"}}
	for _, tc := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		ok                 bool
	}{
		{"declared 200", "GET", "/healthz", 200, jsonType, `{"status":"ok"}`, true},
		{"undeclared status", "GET", "/healthz", 418, jsonType, errBody, false},
		{"body off its schema", "GET", "/healthz", 200, jsonType, `{"status":"fine"}`, false},
		{"error with field", "POST", "/v1/notifications", 401, jsonType, errBody, true},
		{"error without field", "POST", "/v1/notifications", 401, jsonType, noField, false},
		{"error as text", "POST", "/v1/notifications", 401, http.Header{"Content-Type": {"text/plain"}}, "no", false},
		{"503 with Retry-After", "GET", "/readyz", 503, retry, errBody, true},
		{"503 without Retry-After", "GET", "/readyz", 503, jsonType, errBody, false},
		{"path param route", "GET", "/v1/notifications/order_arrived-1", 404, jsonType, errBody, true},
		{"push success text", "POST", "/v1/wx/events", 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "success", true},
		{"push other text", "POST", "/v1/wx/events", 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "ok", false},
		{"unknown path 404", "GET", "/v2/nothing", 404, jsonType, errBody, true},
		{"unknown path 200", "GET", "/v2/nothing", 200, jsonType, `{}`, false},
		{"unknown path 404 without field", "GET", "/v2/nothing", 404, jsonType, noField, false},
		{"undeclared method 405", "DELETE", "/v1/notifications", 405, jsonType, errBody, true},
		{"undeclared method 200", "DELETE", "/v1/notifications", 200, jsonType, `{}`, false},
		{"dashboard page", "GET", "/admin/asynq/", 200, http.Header{"Content-Type": {"text/html"}}, "<html>", true},
		{"dashboard 401 error body", "GET", "/admin/asynq/api/queues", 401, jsonType, errBody, true},
		{"dashboard 401 empty", "GET", "/admin/asynq/api/queues", 401, http.Header{}, "", false},
		{"dashboard 403 error body", "POST", "/admin/asynq/api/queues/q:pause", 403, jsonType, errBody, true},
		{"dashboard 403 empty", "POST", "/admin/asynq/api/queues/q:pause", 403, http.Header{}, "", false},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		err := c.Check(req, tc.status, tc.header, []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: %s %s → %d %s: error %v; want ok=%v", tc.name, tc.method, tc.path, tc.status, tc.body, err, tc.ok)
		}
	}
}

// recorder is a testing.TB that keeps what Errorf reports.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// The client reports a drifting answer to the test and still hands the
// whole body to the caller.
func TestClientReportsDriftAndKeepsTheBody(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, `{"status":"ok"}`)
			return
		}
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, `{"status":"teapot"}`)
	}))
	t.Cleanup(srv.Close)
	rec := &recorder{TB: t}
	client := contract.Client(rec, 0)
	for path, drifts := range map[string]bool{"/healthz": false, "/readyz": true} {
		rec.errs = nil
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"status"`) {
			t.Errorf("%s: the caller got %q, not the body", path, body)
		}
		if (len(rec.errs) > 0) != drifts {
			t.Errorf("%s: reported %q; want a report: %v", path, rec.errs, drifts)
		}
	}
}
