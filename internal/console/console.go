// Package console is the operator console served under /admin/: server-
// rendered pages to find a notification and read its timeline, browse the
// notifications by state, template and time (the feed), see a user's
// binding, grants and recent notifications, the outcome counts by template,
// the health of the token, the send rate and the queue, and the webhook
// events the order service never accepted. It only reads: queue operations
// stay in asynqmon (/admin/asynq/).
//
// Pages are html/template with an embedded stylesheet and no script: the
// chart is inline SVG drawn here. Openids are shown masked, never in clear.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"wxnotify/internal/accesstoken"
	"wxnotify/internal/record"
	"wxnotify/internal/registry"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/webhook"
)

// Notifications is what the console reads about notifications;
// *record.Store is one.
type Notifications interface {
	Status(ctx context.Context, id string) (record.Status, error)
	Lookup(ctx context.Context, template, dedupeKey string) (record.Status, error)
	UserNotifications(ctx context.Context, userID, cursor string, limit int) ([]record.Status, string, error)
	OutcomeCounts(ctx context.Context, now time.Time, hours int) ([]record.HourCounts, error)
	Feed(ctx context.Context, q record.FeedQuery) (record.FeedPage, error)
}

// Users is what the console reads about users; *subscriber.Store is one.
type Users interface {
	Lookup(ctx context.Context, userID string) (subscriber.Binding, bool, error)
	UserOf(ctx context.Context, openid string) (string, bool, error)
	Grants(ctx context.Context, userID string) (map[string]int, error)
	Unsubscribed(ctx context.Context, userID string) (map[string]time.Time, error)
}

// App is one mini program the console shows: its readers, each keyed by
// its appid.
type App struct {
	// Name picks the app in the pages' query (?app=<name>); AppID and Queue
	// (its asynq queue) are shown.
	Name          string
	AppID         string
	Queue         string
	Registry      *registry.Registry
	Notifications Notifications
	// QueueInfo is asynq's report on the app's queue (intake.Queue.QueueInfo).
	QueueInfo func(ctx context.Context) (*asynq.QueueInfo, error)
	// TaskInfo is asynq's report on a notification's task while asynq
	// holds it, asynq.ErrTaskNotFound after (intake.Queue.TaskInfo).
	TaskInfo func(ctx context.Context, id string) (*asynq.TaskInfo, error)
	Users    Users
	// Token reads the access_token's health (accesstoken.ReadHealth).
	Token func(ctx context.Context) (accesstoken.Health, error)
	// SendBacklog reads how far the appid's shared send rate is booked
	// ahead (ratelimit.Backlog); SendRate reads the sends per second the
	// workers are configured with, 0 if none said.
	SendBacklog func(ctx context.Context) (time.Duration, error)
	SendRate    func(ctx context.Context) (int, error)
	// WebhookQueue is the app's webhook queue (webhook.Queue), and
	// DeadWebhooks reads a page (from 1) of its dead events
	// (webhook.DeadList): an app without a webhook has none.
	WebhookQueue string
	DeadWebhooks func(ctx context.Context, page int) ([]webhook.Dead, error)
}

// Deps is what the console reads from.
type Deps struct {
	Logger *slog.Logger
	// Apps are the apps served; the first is the one a page without
	// ?app= shows.
	Apps []App
	// DashboardPath is where asynqmon is served, for links.
	DashboardPath string
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

// Console serves the pages. Mount them with Register.
type Console struct {
	Deps
	views []*view
	pages map[string]*template.Template
}

// view is one app as a request sees it: its readers, and what keeps it in
// the links a page renders.
type view struct {
	App
	// param is the app's name for ?app=, "" when only one app is served
	// (links then carry no app, as before there were several).
	param string
}

// link is path in the view's app.
func (v *view) link(path string) string {
	if v.param == "" {
		return path
	}
	return path + "?app=" + url.QueryEscape(v.param)
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/console.css
var stylesheet []byte

// New parses the pages.
func New(d Deps) (*Console, error) {
	if d.Logger == nil || len(d.Apps) == 0 {
		return nil, errors.New("console: missing logger or apps")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	c := &Console{Deps: d, pages: map[string]*template.Template{}}
	names := map[string]bool{}
	for _, a := range d.Apps {
		if a.Name == "" || a.AppID == "" || a.Queue == "" || a.Registry == nil || a.Notifications == nil || a.QueueInfo == nil || a.TaskInfo == nil ||
			a.Users == nil || a.Token == nil || a.SendBacklog == nil || a.SendRate == nil ||
			a.WebhookQueue == "" || a.DeadWebhooks == nil {
			return nil, fmt.Errorf("console: app %q: missing dependency", a.Name)
		}
		if names[a.Name] {
			return nil, fmt.Errorf("console: two apps named %q", a.Name)
		}
		names[a.Name] = true
		v := &view{App: a}
		if len(d.Apps) > 1 {
			v.param = a.Name
		}
		c.views = append(c.views, v)
	}
	for _, page := range []string{"search", "feed", "notification", "user", "outcomes", "health", "webhooks", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+page+".html")
		if err != nil {
			return nil, err
		}
		c.pages[page] = t
	}
	return c, nil
}

// CSP is the Content-Security-Policy of every console page: the pages
// load only their own stylesheet and run no script.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Register mounts the pages on g, which is rooted at /admin and carries
// the admin auth. GET and HEAD, and the search's POST, which changes
// nothing either (search says why it posts).
func (c *Console) Register(g gin.IRoutes) {
	g.Use(secureHeaders)
	get := func(path string, h gin.HandlerFunc) {
		g.GET(path, h)
		g.HEAD(path, h)
	}
	get("/", c.inApp(c.search))
	g.POST("/", c.inApp(c.search))
	get("/notifications/:id", c.inApp(c.notification))
	get("/users/:user_id", c.inApp(c.user))
	get("/feed", c.inApp(c.feed))
	get("/outcomes", c.inApp(c.outcomes))
	get("/health", c.inApp(c.health))
	get("/webhooks", c.inApp(c.webhooks))
	get("/console.css", func(ctx *gin.Context) {
		ctx.Header("Cache-Control", "private, max-age=300")
		ctx.Data(http.StatusOK, "text/css; charset=utf-8", stylesheet)
	})
}

// inApp resolves the request's app (?app=, the first app without it or
// with it empty, as a form's empty choice sends it) and serves it with h;
// an unknown app is a 404 page naming it.
func (c *Console) inApp(h func(*gin.Context, *view)) gin.HandlerFunc {
	return func(ctx *gin.Context) {
		name := ctx.Query("app")
		if name == "" {
			h(ctx, c.views[0])
			return
		}
		for _, v := range c.views {
			if v.Name == name || v.AppID == name {
				h(ctx, v)
				return
			}
		}
		c.problem(ctx, nil, http.StatusNotFound, "No app named "+name+" is served here.")
	}
}

func secureHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.Next()
}

// page is what every page's layout reads.
type page struct {
	Title     string
	Nav       string
	Dashboard string
	Now       time.Time
	// App names the current app for links and titles, and Apps is the
	// switcher, when several apps are served ("" and none with one).
	App  string
	Apps []appLink
	Body any
}

// appLink is an app in the switcher: the same page in that app.
type appLink struct {
	Name, AppID, Href string
	Current           bool
}

// navPaths are the pages the switcher keeps; any other page switches to
// the other app's search (an id of one app means nothing in another).
var navPaths = map[string]string{"search": "/admin/", "feed": "/admin/feed", "outcomes": "/admin/outcomes", "health": "/admin/health", "webhooks": "/admin/webhooks"}

// render writes page name of v's app (nil: none, for an unknown app) with
// status; a template failure is a 500 (a defect, not the input's fault).
func (c *Console) render(ctx *gin.Context, v *view, status int, name, title string, body any) {
	p := page{Title: title, Nav: name, Dashboard: c.DashboardPath + "/", Now: c.Now().UTC(), Body: body}
	if v != nil {
		p.App = v.param
	}
	if len(c.views) > 1 {
		path, ok := navPaths[name]
		if !ok {
			path = "/admin/"
		}
		for _, o := range c.views {
			p.Apps = append(p.Apps, appLink{Name: o.Name, AppID: o.AppID, Href: o.link(path), Current: o == v})
		}
	}
	var b bytes.Buffer
	if err := c.pages[name].Execute(&b, p); err != nil {
		c.Logger.Error("console page", slog.String("page", name), slog.Any("error", err))
		ctx.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	ctx.Data(status, "text/html; charset=utf-8", b.Bytes())
}

// problem answers an error page: 400 for bad input, 404 for an unknown
// id or app, 503 when Redis does not answer.
func (c *Console) problem(ctx *gin.Context, v *view, status int, message string) {
	if status == http.StatusServiceUnavailable {
		ctx.Header("Retry-After", "1")
	}
	back := "/admin/"
	if v != nil {
		back = v.link(back)
	}
	c.render(ctx, v, status, "error", http.StatusText(status), struct {
		Status  int
		Message string
		Back    string
	}{status, message, back})
	ctx.Abort()
}

// unavailable logs a Redis failure and answers 503.
func (c *Console) unavailable(ctx *gin.Context, v *view, what string, err error) {
	c.Logger.Warn("console: "+what, slog.String("app", v.Name), slog.Any("error", err))
	c.problem(ctx, v, http.StatusServiceUnavailable, "Redis did not answer ("+what+"); try again.")
}
