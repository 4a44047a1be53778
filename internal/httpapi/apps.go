package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/registry"
	"wxnotify/internal/task"
	"wxnotify/internal/wxevent"
)

// App is one mini program the API serves: its templates, its WeChat login,
// its users and its queue. Nothing of one app is reachable through another:
// each request is resolved to one App first (the session token, the login's
// appid, the order service's app, the push URL), then served from it alone.
type App struct {
	// Name is the app's short name (the order service's "app", the push
	// URL /v1/wx/events/<name>); AppID is WeChat's.
	Name     string
	AppID    string
	Registry *registry.Registry
	WeChat   WeChatLogin
	Users    Users
	Intake   Intake
	Records  Records
	// Events, when set, serves the app's WeChat message push.
	Events *wxevent.Verifier
	// APIKeys are order-service keys that act as this app only.
	APIKeys []string
	// DefaultChannel is the channel of a notification that carries a
	// WeChat Pay order and names none (task.ChannelAuto when empty).
	DefaultChannel task.Channel
}

// apps are the served apps, the first one also answering what names no app
// (a single-app deployment, the push URL without a name, session tokens
// from before apps were named in them).
type apps []*App

// byName finds an app by its name or its appid (the order service may use
// either; config refuses a name that is another app's appid).
func (as apps) byName(name string) (*App, bool) {
	for _, a := range as {
		if a.Name == name || a.AppID == name {
			return a, true
		}
	}
	return nil, false
}

func (as apps) byAppID(appID string) (*App, bool) {
	for _, a := range as {
		if a.AppID == appID {
			return a, true
		}
	}
	return nil, false
}

const appKey = "wxnotify.app"

// appOf is the app a request was resolved to by requireSession, requireApp
// or the push route.
func appOf(c *gin.Context) *App { return c.MustGet(appKey).(*App) }

// sessionToken is the token the mini program holds: the app's appid, a dot,
// then the session's own token, so that a session is looked up, and valid,
// in its app only.
func sessionToken(a *App, raw string) string { return a.AppID + "." + raw }

// sessionApp splits a session token into its app and the session's own
// token; a token without an appid (issued before apps were named in them)
// is the first app's.
func (as apps) sessionApp(token string) (*App, string, bool) {
	appID, raw, found := strings.Cut(token, ".")
	if !found {
		return as[0], token, true
	}
	a, ok := as.byAppID(appID)
	return a, raw, ok
}

// loginApp resolves the appid a login names: the mini program's own
// (wx.getAccountInfoSync().miniProgram.appId), optional when one app is served.
func (h *handlers) loginApp(c *gin.Context, appID string) (*App, bool) {
	if appID == "" {
		if len(h.apps) == 1 {
			return h.apps[0], true
		}
		fail(c, http.StatusBadRequest, "invalid_field", "appid is required: this service serves several mini programs (wx.getAccountInfoSync().miniProgram.appId)", "appid")
		return nil, false
	}
	a, ok := h.apps.byAppID(appID)
	if !ok {
		fail(c, http.StatusBadRequest, "unknown_app", fmt.Sprintf("appid %q is not a mini program this service serves", appID), "appid")
		return nil, false
	}
	return a, true
}

// keyRing holds the order service's API keys as SHA-256 digests, compared
// in constant time, so that neither timing nor a memory dump reveals them;
// each key acts as every app, or as the apps it is limited to.
type keyRing []ringKey

type ringKey struct {
	sum [32]byte
	// apps the key may act as; nil: every app.
	apps []*App
}

func newKeyRing(all []string, as apps) keyRing {
	ring := make(keyRing, 0, len(all))
	for _, k := range all {
		ring = append(ring, ringKey{sum: sha256.Sum256([]byte(k))})
	}
	for _, a := range as {
	keys:
		for _, k := range a.APIKeys {
			sum := sha256.Sum256([]byte(k))
			for i := range ring {
				if ring[i].sum == sum {
					if ring[i].apps != nil { // a key of every app stays so
						ring[i].apps = append(ring[i].apps, a)
					}
					continue keys
				}
			}
			ring = append(ring, ringKey{sum: sum, apps: []*App{a}})
		}
	}
	return ring
}

// find returns the key's entry; every entry is compared, whatever matches.
func (r keyRing) find(key string) (ringKey, bool) {
	sum := sha256.Sum256([]byte(key))
	var found ringKey
	ok := 0
	for _, k := range r {
		if subtle.ConstantTimeCompare(k.sum[:], sum[:]) == 1 {
			found, ok = k, 1
		}
	}
	return found, ok == 1
}

func (r keyRing) valid(key string) bool { _, ok := r.find(key); return ok }

// allows reports whether the key may act as a.
func (k ringKey) allows(a *App) bool {
	if k.apps == nil {
		return true
	}
	for _, x := range k.apps {
		if x == a {
			return true
		}
	}
	return false
}

const keyScope = "wxnotify.key"

// requestApp resolves the app the order service names (the body's or the
// query's "app": a name or an appid). It may be left out when the key acts
// as one app only, or the service serves one. A key limited to other apps
// is refused with 403, whether or not the app exists.
func (h *handlers) requestApp(c *gin.Context, name string) (*App, bool) {
	a, ok := h.namedApp(c, name)
	if ok {
		c.Set(appKey, a)
	}
	return a, ok
}

func (h *handlers) namedApp(c *gin.Context, name string) (*App, bool) {
	key := c.MustGet(keyScope).(ringKey)
	if name == "" {
		switch {
		case len(key.apps) == 1:
			return key.apps[0], true
		case len(h.apps) == 1:
			return h.apps[0], true
		}
		fail(c, http.StatusBadRequest, "invalid_field", "app is required: this service serves several mini programs (name one, or its appid)", "app")
		return nil, false
	}
	a, ok := h.apps.byName(name)
	if !ok && key.apps == nil {
		fail(c, http.StatusBadRequest, "unknown_app", fmt.Sprintf("app %q is not a mini program this service serves", name), "app")
		return nil, false
	}
	if !ok || !key.allows(a) {
		fail(c, http.StatusForbidden, "app_forbidden", fmt.Sprintf("this API key may not act as app %q", name), "app")
		return nil, false
	}
	return a, true
}

// requireQueryApp resolves the query's app for the order service's reads.
func (h *handlers) requireQueryApp(c *gin.Context) {
	if _, ok := h.requestApp(c, c.Query("app")); !ok {
		return
	}
	c.Next()
}
