package config

import (
	"net"
	"net/url"
	"strings"
)

// minWebhookSecret is the shortest webhook secret accepted: an HMAC-SHA256
// key, held to the same 32 bytes as USER_JWT_SECRET's HS256 key.
const minWebhookSecret = 32

// setting names where one value comes from for a problem: a variable, and
// for a field of APPS_FILE the app and the field before the message.
type setting struct{ variable, at string }

// checkWebhook checks an app's webhook. The URL and the secret come
// together or not at all: a URL without a secret would send unsigned
// events the receiver must refuse, a secret without a URL does nothing.
// The URL is https, or http to a loopback host only (a receiver beside the
// worker, a test): the events name the order service's orders, and the
// signature proves who sent them, not that nobody else read them. A problem
// shows the URL's scheme and host, never the whole URL: its path or query
// may hold a token of the receiver's.
func checkWebhook(p *problems, urlAt, secretAt setting, raw string, secret Secret) {
	switch {
	case raw == "" && secret == "":
		return
	case raw == "":
		p.add(urlAt.variable, "%srequired with the webhook's secret (set both or neither)", urlAt.at)
	case secret == "":
		p.add(secretAt.variable, "%srequired with the webhook's URL (set both or neither)", secretAt.at)
	}
	if n := len(secret.Reveal()); secret != "" && n < minWebhookSecret {
		p.add(secretAt.variable, "%s%d bytes; the HMAC-SHA256 key needs at least %d", secretAt.at, n, minWebhookSecret)
	}
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		p.add(urlAt.variable, "%snot an http(s) URL with a host", urlAt.at)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		p.add(urlAt.variable, "%shttp://%s: https is required unless the host is loopback", urlAt.at, u.Host)
	}
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
