// Package httpapi is wxnotify's HTTP API: login binding for the mini
// program, subscription grants, the order service's notification intake
// and status, health, metrics, the OpenAPI document, the queue dashboard
// and the operator console (internal/console).
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"wxnotify/internal/intake"
	"wxnotify/internal/record"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
	"wxnotify/internal/wechat"
)

// WeChatLogin exchanges a wx.login code; *wechat.Client is one.
type WeChatLogin interface {
	Code2Session(ctx context.Context, code string) (wechat.Session, error)
}

// Users is the subscriber state the API reads and writes; *subscriber.Store is one.
type Users interface {
	Bind(ctx context.Context, b subscriber.Binding) (string, error)
	NewSession(ctx context.Context, userID string) (string, time.Time, error)
	SessionUser(ctx context.Context, token string) (string, bool, error)
	Apply(ctx context.Context, userID string, choices []subscriber.Choice) (map[string]int, error)
	Grants(ctx context.Context, userID string) (map[string]int, error)
	UserOf(ctx context.Context, openid string) (string, bool, error)
	ApplyPush(ctx context.Context, userID string, choices []subscriber.Choice, countAccepts, settings bool) error
	FirstPush(ctx context.Context, id string) (bool, error)
}

// Intake accepts notifications; *intake.Queue is one.
type Intake interface {
	Enqueue(ctx context.Context, p task.Payload) (intake.Accepted, error)
}

// Records answers for notifications from their records, and takes
// WeChat's word on delivered ones; *record.Store is one.
type Records interface {
	Status(ctx context.Context, id string) (record.Status, error)
	LookupOn(ctx context.Context, c task.Channel, template, dedupeKey string) (record.Status, error)
	ApplyTrade(ctx context.Context, t record.Trade) (int, error)
	UserNotifications(ctx context.Context, userID, cursor string, limit int) ([]record.Status, string, error)
	RecordWeChatResult(ctx context.Context, msgid string, r record.WeChatResult) error
}

// UserVerifier reads the user id from the business's JWT; *identity.Verifier is one.
type UserVerifier interface {
	UserID(token string) (string, error)
}

// LoginLimiter bounds logins per client IP across every replica.
type LoginLimiter interface {
	Allow(ctx context.Context, ip string) (retryAfter time.Duration, ok bool, err error)
}

// Deps is everything the API needs; New wires it into routes.
type Deps struct {
	Logger *slog.Logger
	// Apps are the mini programs served (apps.go), at least one; the first
	// also answers what names none.
	Apps []*App
	// Identity, when set, makes login require the business's JWT.
	Identity UserVerifier
	// GrantSource is "client" (the mini program's reports count grants) or
	// "events" (WeChat's popup pushes do; reports are not counted).
	GrantSource string
	Limiter     LoginLimiter
	// APIKeys are the order service's bearer keys, acting as any app (an
	// App's own APIKeys act as it only).
	APIKeys []string
	// Ready reports whether Redis answers.
	Ready func(ctx context.Context) error
	// Gatherer serves /metrics; Metrics records into the same registry.
	Gatherer prometheus.Gatherer
	Metrics  *Metrics
	// Dashboard is asynqmon's handler rooted at DashboardPath (NewDashboard),
	// served behind basic auth with AdminUser/AdminPassword, its page
	// rewritten (dashboardPage); nil turns it off. Actions under AdminPrefix
	// from another origin are refused whatever the credentials (origin.go).
	Dashboard     http.Handler
	AdminUser     string
	AdminPassword string
	// Console is the operator console, served under ConsolePath behind the
	// same basic auth; nil turns it off.
	Console      ConsolePages
	MaxBodyBytes int64
	// TrustedProxies may set X-Forwarded-For; none by default, so the client
	// IP (for the login rate limit) cannot be forged.
	TrustedProxies []string
	// StoreTimeout bounds each request's Redis work, so that a Redis outage
	// answers 503 quickly instead of hanging the request.
	StoreTimeout time.Duration
}

// DashboardPath is where the asynq dashboard is served.
const DashboardPath = "/admin/asynq"

// New builds the router.
func New(d Deps) (*gin.Engine, error) {
	if d.Logger == nil || len(d.Apps) == 0 || d.Limiter == nil || d.Ready == nil || d.Metrics == nil || d.Gatherer == nil {
		return nil, errors.New("httpapi: missing dependency")
	}
	for _, a := range d.Apps {
		if a.Name == "" || a.AppID == "" || a.Registry == nil || a.WeChat == nil || a.Users == nil || a.Intake == nil || a.Records == nil {
			return nil, errors.New("httpapi: app " + a.Name + " misses a dependency")
		}
	}
	if d.Dashboard != nil && (d.AdminUser == "" || d.AdminPassword == "") {
		return nil, errors.New("httpapi: the dashboard needs AdminUser and AdminPassword")
	}
	if d.Console != nil && (d.AdminUser == "" || d.AdminPassword == "") {
		return nil, errors.New("httpapi: the console needs AdminUser and AdminPassword")
	}
	if d.StoreTimeout <= 0 {
		d.StoreTimeout = 2 * time.Second
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, err
	}
	proxies, err := parseProxies(d.TrustedProxies)
	if err != nil {
		return nil, err
	}
	r.Use(recoverPanics(d.Logger), logRequests(d.Logger), instrument(d.Metrics), limitBody(d.MaxBodyBytes), sameOriginAdmin(proxies))
	h := &handlers{Deps: d, apps: d.Apps, keys: newKeyRing(d.APIKeys, d.Apps), admin: adminAuth(d.AdminUser, d.AdminPassword)}
	r.NoRoute(h.adminFirst, func(c *gin.Context) { fail(c, http.StatusNotFound, "not_found", "no such endpoint", "") })
	r.NoMethod(h.adminFirst, func(c *gin.Context) {
		if allow, ok := c.Get(allowKey); ok {
			c.Header("Allow", allow.(string))
		}
		fail(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed here", "")
	})

	store, withWeChat := deadline(d.StoreTimeout), deadline(d.StoreTimeout+wechatBudget)

	// Load balancers probe with HEAD as often as with GET.
	probe := []string{http.MethodGet, http.MethodHead}
	r.Match(probe, "/healthz", h.healthz)
	r.Match(probe, "/readyz", h.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{})))
	r.GET("/openapi.yaml", serveOpenAPI)

	v1 := r.Group("/v1")
	v1.POST("/wx/login", withWeChat, h.login)
	for _, path := range []string{"/wx/events", "/wx/events/:app"} {
		v1.GET(path, h.pushApp, h.verifyPushURL)
		v1.POST(path, store, h.pushApp, h.receivePush)
	}
	v1.GET("/subscriptions", store, h.requireSession, h.listSubscriptions)
	v1.POST("/subscriptions", store, h.requireSession, h.subscribe)
	v1.POST("/notifications", store, h.requireAPIKey, h.notify)
	v1.GET("/notifications", store, h.requireAPIKey, h.requireQueryApp, h.lookupNotification)
	v1.GET("/notifications/:id", store, h.requireAPIKey, h.requireQueryApp, h.notificationStatus)
	v1.GET("/users/:user_id/notifications", store, h.requireAPIKey, h.requireQueryApp, h.userNotifications)

	if d.Dashboard != nil {
		if err := h.mountDashboard(r); err != nil {
			return nil, err
		}
	}
	if d.Console != nil {
		h.mountConsole(r)
	}
	return r, nil
}

// handlers holds the dependencies of every route.
type handlers struct {
	Deps
	apps apps
	keys keyRing
	// admin is the admin pages' basic auth (adminAuth).
	admin gin.HandlerFunc
}

// deadline bounds the request's context, so that a Redis or WeChat outage
// answers 503 in time instead of hanging the request.
func deadline(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// wechatBudget is added to the store timeout for the login's call to WeChat.
const wechatBudget = 5 * time.Second

const allowKey = "wxnotify.allow"

// adminFirst asks for the admin's credentials before a request under
// AdminPrefix is told that its path or method is not served: without
// them, nothing there is said to exist, nor which methods it takes (gin
// has set Allow before the 405's handlers run; it is kept for the answer
// once the credentials pass). Elsewhere, and with no admin pages, it
// passes.
func (h *handlers) adminFirst(c *gin.Context) {
	p := c.Request.URL.Path
	if h.Dashboard == nil && h.Console == nil || p+"/" != AdminPrefix && !strings.HasPrefix(p, AdminPrefix) {
		c.Next()
		return
	}
	c.Set(allowKey, c.Writer.Header().Get("Allow"))
	c.Writer.Header().Del("Allow")
	h.admin(c)
}
