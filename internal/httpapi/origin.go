package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// AdminPrefix is the path under which every operator page and action lives
// (the dashboard at DashboardPath); sameOriginAdmin guards all of it.
const AdminPrefix = "/admin/"

// sameOriginAdmin refuses, with 403 and the usual error body, a request
// that would change something under AdminPrefix (any method but GET, HEAD
// and OPTIONS) when a browser sent it from a page of another origin. Basic
// auth offers no defence there: a browser attaches the credentials it has
// cached to any request to this origin, whichever page makes it — a plain
// HTML form on another site could pause a queue or delete tasks (CSRF).
//
// It runs for every request, before routing and authentication, so that
// every admin route, present or future, is covered without opting in.
func sameOriginAdmin(trustedProxies []netip.Prefix) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := c.Request.URL.Path
		if p+"/" != AdminPrefix && !strings.HasPrefix(p, AdminPrefix) {
			c.Next()
			return
		}
		if why := crossOrigin(c.Request, trustedProxies); why != "" {
			fail(c, http.StatusForbidden, "cross_origin",
				"admin actions are accepted only from the dashboard's own pages: "+why, "")
			return
		}
		c.Next()
	}
}

// crossOrigin says why r is a state-changing request from another origin,
// or "" when it is not one.
//
// Sec-Fetch-Site decides when present: browsers set it themselves (pages
// cannot), every current browser sends it (all since 2023), and it compares
// the scheme too. "same-origin" passes, and so does "none": a request the
// user made directly, not one a page made. "same-site" (another port or
// subdomain) and "cross-site" are refused.
//
// Without it, the Origin header decides: it must be this server's own
// scheme://host. The scheme is https on TLS, else what X-Forwarded-Proto
// says when a trusted proxy (TRUSTED_PROXIES) sent the request, else http.
// Only browsers from before 2023 get here, and a proxy that rewrites Host
// or drops X-Forwarded-Proto makes them refused, never admitted.
//
// With neither header the request did not come from a browser page (curl,
// scripts: browsers send Origin with every POST, PUT, PATCH and DELETE) and
// passes; authentication still applies.
func crossOrigin(r *http.Request, trustedProxies []netip.Prefix) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ""
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "same-origin", "none":
		return ""
	case "":
	default:
		return "the browser says the request came from a " + site + " page (Sec-Fetch-Site)"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	if own := ownScheme(r, trustedProxies) + "://" + r.Host; !strings.EqualFold(origin, own) {
		return "the request came from a page of " + origin + ", not " + own + " (Origin)"
	}
	return ""
}

// ownScheme is the scheme the client used to reach this server.
func ownScheme(r *http.Request, trustedProxies []netip.Prefix) string {
	if r.TLS != nil {
		return "https"
	}
	if proto := r.Header.Get("X-Forwarded-Proto"); (proto == "https" || proto == "http") && fromAny(r.RemoteAddr, trustedProxies) {
		return proto
	}
	return "http"
}

// fromAny reports whether remoteAddr (host:port) is in one of prefixes.
func fromAny(remoteAddr string, prefixes []netip.Prefix) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseProxies reads TRUSTED_PROXIES as gin does: addresses or CIDRs.
func parseProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
