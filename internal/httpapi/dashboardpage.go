package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// dashboardPage is asynqmon's one HTML page (a single-page app: it answers
// its root and every path that is not a file or an /api call) as the
// dashboard serves it:
//
//   - without links to other hosts: asynqmon's page loads Roboto and the
//     Material Icons font from Google (its icons are SVG in the bundle, its
//     font stack falls back to Helvetica and Arial), and nothing of the
//     dashboard may leave for another host;
//   - without its web app manifest: browsers fetch a manifest without
//     credentials, so behind basic auth it answered 401 on every page load,
//     and asynqmon's names icons outside its root path — an admin page is
//     no installable app;
//   - with a Content-Security-Policy that admits only this origin and the
//     page's two inline scripts (its flags and webpack's loader), by hash.
//     Styles may be inline: Material-UI writes its CSS into <style>
//     elements at run time.
type dashboardPage struct {
	html []byte
	csp  string
}

var (
	linkTag      = regexp.MustCompile(`<link\b[^>]*>`)
	attrValue    = regexp.MustCompile(`\b(rel|href|src)="([^"]*)"`)
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
)

// newDashboardPage renders the page asynqmon serves at root and rewrites it.
// It fails if the page still names another host afterwards, so that an
// asynqmon whose page changed is noticed at start, not in a browser.
func newDashboardPage(dash http.Handler, root string) (*dashboardPage, error) {
	req, err := http.NewRequest(http.MethodGet, root+"/", nil)
	if err != nil {
		return nil, err
	}
	w := &pageRecorder{header: http.Header{}}
	dash.ServeHTTP(w, req)
	if w.code != 0 && w.code != http.StatusOK || !isPage(w.Bytes()) {
		return nil, fmt.Errorf("asynqmon answered %d %.60q for its page", w.code, w.String())
	}
	html := linkTag.ReplaceAllFunc(w.Bytes(), func(tag []byte) []byte {
		attrs := map[string]string{}
		for _, m := range attrValue.FindAllSubmatch(tag, -1) {
			attrs[string(m[1])] = string(m[2])
		}
		if attrs["rel"] == "manifest" || !sameOriginURL(attrs["href"]) {
			return nil
		}
		return tag
	})
	for _, m := range attrValue.FindAllSubmatch(html, -1) {
		if name := string(m[1]); name != "rel" && !sameOriginURL(string(m[2])) {
			return nil, fmt.Errorf("it names another host: %s=%q", name, m[2])
		}
	}
	scripts := []string{"'self'"}
	for _, m := range inlineScript.FindAllSubmatch(html, -1) {
		sum := sha256.Sum256(m[1])
		scripts = append(scripts, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	if len(scripts) == 1 {
		return nil, errors.New("no inline script found: asynqmon's page is not what this code was written for")
	}
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src " + strings.Join(scripts, " "),
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src 'self'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
	return &dashboardPage{html: html, csp: csp}, nil
}

// sameOriginURL reports whether a link stays on this origin: an absolute
// path, not a scheme-relative //host one.
func sameOriginURL(u string) bool {
	return strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//")
}

// isPage reports whether b starts an HTML document.
func isPage(b []byte) bool {
	return len(b) >= 15 && strings.EqualFold(string(b[:15]), "<!doctype html>")
}

// wrap serves dash with the policy headers on every answer and the
// rewritten page in place of asynqmon's own.
func (p *dashboardPage) wrap(dash http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", p.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY") // frame-ancestors for browsers without CSP 2
		dash.ServeHTTP(&pageSwap{ResponseWriter: w, page: p.html}, r)
	})
}

// pageSwap passes asynqmon's answer through, except its page, which it
// replaces by the rewritten one. asynqmon renders its page into the writer
// without a Content-Type (its static files and errors set one): a first
// write of an HTML document without one is the page, wherever it is served.
type pageSwap struct {
	http.ResponseWriter
	page             []byte
	decided, swapped bool
}

func (s *pageSwap) WriteHeader(code int) {
	s.decided = true // the page is written without WriteHeader: not it
	s.ResponseWriter.WriteHeader(code)
}

func (s *pageSwap) Write(b []byte) (int, error) {
	if !s.decided {
		s.decided = true
		h := s.Header()
		if h.Get("Content-Type") == "" && isPage(b) {
			s.swapped = true
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Length", strconv.Itoa(len(s.page)))
			h.Set("Cache-Control", "no-store")
			if _, err := s.ResponseWriter.Write(s.page); err != nil {
				return 0, err
			}
		}
	}
	if s.swapped {
		return len(b), nil // asynqmon's own page, discarded
	}
	return s.ResponseWriter.Write(b)
}

// pageRecorder keeps one answer in memory (net/http/httptest would add its
// flags to the program's).
type pageRecorder struct {
	bytes.Buffer
	header http.Header
	code   int
}

func (r *pageRecorder) Header() http.Header { return r.header }
func (r *pageRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
