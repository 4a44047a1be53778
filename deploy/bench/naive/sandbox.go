package main

import (
	"net/http"
	"net/url"
)

// redirect sends every request to another scheme and host, keeping path
// and query: silenceper's URLs name https://api.weixin.qq.com, and the
// bench's WeChat is the sandbox. Bench plumbing, not the naive code under
// test: next is http.DefaultTransport, which silenceper's own default
// client (http.DefaultClient) would use.
type redirect struct {
	to   *url.URL
	next http.RoundTripper
}

// RoundTrip rewrites the request's scheme and host and passes it on.
func (r redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = r.to.Scheme, r.to.Host, r.to.Host
	return r.next.RoundTrip(out)
}
