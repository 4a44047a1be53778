// Package contract is for tests only: it holds the API's answers to its
// OpenAPI document (internal/httpapi/openapi.yaml), so that the document
// cannot drift from what the handlers really answer.
//
// Every answer a test receives through Client or Transport is checked with
// kin-openapi's openapi3filter: the status must be declared for the
// operation, the declared headers present and valid, and the body must match
// the declared content type and schema. Failures are reported to the test's
// testing.TB with Errorf, so a test that drifts fails without stopping.
//
// Answers to requests outside the document are held to what the document's
// description promises for them: an unknown path answers 404 and an
// undeclared method 405, both with the Error body. The one part of the API
// the document leaves out on purpose is listed in Undocumented.
//
// Only answers are checked, not requests: tests send malformed requests on
// purpose, and the API's answer to them is what the document must describe.
//
// It must never be imported by the programs (api, worker, deploy/...): kin-
// openapi is a test-only dependency; .ci/run checks that.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"wxnotify/internal/httpapi"
)

// Undocumented are the path prefixes the API serves that openapi.yaml does
// not describe, with the reason. Their answers are not checked, except that
// a refusal of credentials (401) or of a request from another origin (403),
// both written by our own middleware, not by the undocumented handler, must
// still be the Error body.
var Undocumented = map[string]string{
	httpapi.DashboardPath: "asynqmon's own UI and JSON API, served behind basic auth",
	httpapi.ConsolePath:   "the operator console's HTML pages (internal/console), served behind the same basic auth",
}

// Checker holds the parsed, validated document and its router.
type Checker struct {
	doc    *openapi3.T
	router routers.Router
}

// Load parses and validates the API's document (the one it serves).
func Load() (*Checker, error) {
	return Parse(httpapi.OpenAPI())
}

// Parse parses and validates an OpenAPI document given as YAML or JSON.
func Parse(data []byte) (*Checker, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml does not load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid OpenAPI: %w", err)
	}
	// Tests reach the API on any host and port: match paths only.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Checker{doc: doc, router: router}, nil
}

var shared = sync.OnceValues(Load)

// Client is an HTTP client whose every answer is checked against the API's
// document, failures reported to tb. A zero timeout means none.
func Client(tb testing.TB, timeout time.Duration) *http.Client {
	tb.Helper()
	c, err := shared()
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Timeout: timeout, Transport: c.Transport(tb, nil)}
}

// Transport wraps next (http.DefaultTransport when nil) so that every answer
// is checked, failures reported to tb. It reads each answer's body whole
// before returning it.
func (c *Checker) Transport(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{c: c, tb: tb, next: next}
}

type transport struct {
	c    *Checker
	tb   testing.TB
	next http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := t.c.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		t.tb.Errorf("contract: %s %s answered %d, which openapi.yaml does not allow: %v\nbody: %.500s",
			req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

// Check returns why an answer to req breaks the document, or nil.
func (c *Checker) Check(req *http.Request, status int, header http.Header, body []byte) error {
	if undocumented(req.URL.Path) {
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			return c.checkError(req, header, body)
		}
		return nil
	}
	route, params, err := c.router.FindRoute(req)
	switch {
	case isRouteError(err, routers.ErrPathNotFound):
		if status != http.StatusNotFound {
			return fmt.Errorf("the path is not in the document, yet the answer is %d, not 404", status)
		}
		return c.checkError(req, header, body)
	case isRouteError(err, routers.ErrMethodNotAllowed):
		if status != http.StatusMethodNotAllowed {
			return fmt.Errorf("the method is not in the document for this path, yet the answer is %d, not 405", status)
		}
		return c.checkError(req, header, body)
	case err != nil:
		return err
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

// checkError holds an answer outside the document's operations to the
// document's Error schema (an answer to HEAD has no body to check).
func (c *Checker) checkError(req *http.Request, header http.Header, body []byte) error {
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("error answer is %q, not application/json", header.Get("Content-Type"))
	}
	if req.Method == http.MethodHead {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error answer is not JSON: %w", err)
	}
	schema := c.doc.Components.Schemas["Error"]
	if schema == nil || schema.Value == nil {
		return errors.New("the document has no components.schemas.Error")
	}
	if err := schema.Value.VisitJSON(v, openapi3.MultiErrors(), openapi3.VisitAsResponse()); err != nil {
		return fmt.Errorf("error answer does not match the Error schema: %w", err)
	}
	return nil
}

func undocumented(path string) bool {
	for prefix := range Undocumented {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return true
		}
	}
	return false
}

// isRouteError tells whether err is the router's error want (the legacy
// router returns new values with the same reason, so errors.Is misses them).
func isRouteError(err, want error) bool {
	var re *routers.RouteError
	return errors.As(err, &re) && re.Error() == want.Error()
}
