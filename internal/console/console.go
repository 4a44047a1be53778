// Package console is the operator console served under /admin/: server-
// rendered pages to find a notification and read its timeline, see a
// user's binding, grants and recent notifications, the outcome counts by
// template, and the health of the token, the send rate and the queue. It
// only reads: queue operations stay in asynqmon (/admin/asynq/).
//
// Pages are html/template with an embedded stylesheet and no script: the
// chart is inline SVG drawn here. Openids are shown masked, never in clear.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"wxnotify/internal/accesstoken"
	"wxnotify/internal/notification"
	"wxnotify/internal/registry"
	"wxnotify/internal/subscriber"
)

// Notifications is what the console reads about notifications;
// *notification.Queue is one.
type Notifications interface {
	Status(ctx context.Context, id string) (notification.Status, error)
	Lookup(ctx context.Context, template, dedupeKey string) (notification.Status, error)
	UserNotifications(ctx context.Context, userID, cursor string, limit int) ([]notification.Status, string, error)
	OutcomeCounts(ctx context.Context, now time.Time, hours int) ([]notification.HourCounts, error)
	QueueInfo(ctx context.Context) (*asynq.QueueInfo, error)
}

// Users is what the console reads about users; *subscriber.Store is one.
type Users interface {
	Lookup(ctx context.Context, userID string) (subscriber.Binding, bool, error)
	UserOf(ctx context.Context, openid string) (string, bool, error)
	Grants(ctx context.Context, userID string) (map[string]int, error)
	Unsubscribed(ctx context.Context, userID string) (map[string]time.Time, error)
}

// Deps is what the console reads from.
type Deps struct {
	Logger        *slog.Logger
	Registry      *registry.Registry
	Notifications Notifications
	Users         Users
	// Token reads the access_token's health (accesstoken.ReadHealth).
	Token func(ctx context.Context) (accesstoken.Health, error)
	// SendBacklog reads how far the shared send rate is booked ahead
	// (ratelimit.Backlog); SendRate reads the sends per second the workers
	// are configured with, 0 if none said.
	SendBacklog func(ctx context.Context) (time.Duration, error)
	SendRate    func(ctx context.Context) (int, error)
	// DashboardPath is where asynqmon is served, for links.
	DashboardPath string
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

// Console serves the pages. Mount them with Register.
type Console struct {
	Deps
	pages map[string]*template.Template
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/console.css
var stylesheet []byte

// New parses the pages.
func New(d Deps) (*Console, error) {
	if d.Logger == nil || d.Registry == nil || d.Notifications == nil || d.Users == nil || d.Token == nil || d.SendBacklog == nil || d.SendRate == nil {
		return nil, errors.New("console: missing dependency")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	c := &Console{Deps: d, pages: map[string]*template.Template{}}
	for _, page := range []string{"search", "notification", "user", "outcomes", "health", "error"} {
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
// the admin auth. Only GET (and HEAD): the console changes nothing.
func (c *Console) Register(g gin.IRoutes) {
	g.Use(secureHeaders)
	g.GET("/", c.search)
	g.GET("/notifications/:id", c.notification)
	g.GET("/users/:user_id", c.user)
	g.GET("/outcomes", c.outcomes)
	g.GET("/health", c.health)
	g.GET("/console.css", func(ctx *gin.Context) {
		ctx.Header("Cache-Control", "private, max-age=300")
		ctx.Data(http.StatusOK, "text/css; charset=utf-8", stylesheet)
	})
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
	Body      any
}

// render writes page name with status; a template failure is a 500 (a
// defect, not the input's fault).
func (c *Console) render(ctx *gin.Context, status int, name, title string, body any) {
	var b bytes.Buffer
	p := page{Title: title, Nav: name, Dashboard: c.DashboardPath + "/", Now: c.Now().UTC(), Body: body}
	if err := c.pages[name].Execute(&b, p); err != nil {
		c.Logger.Error("console page", slog.String("page", name), slog.Any("error", err))
		ctx.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	ctx.Data(status, "text/html; charset=utf-8", b.Bytes())
}

// problem answers an error page: 400 for bad input, 404 for an unknown
// id, 503 when Redis does not answer.
func (c *Console) problem(ctx *gin.Context, status int, message string) {
	if status == http.StatusServiceUnavailable {
		ctx.Header("Retry-After", "1")
	}
	c.render(ctx, status, "error", http.StatusText(status), struct {
		Status  int
		Message string
	}{status, message})
	ctx.Abort()
}

// unavailable logs a Redis failure and answers 503.
func (c *Console) unavailable(ctx *gin.Context, what string, err error) {
	c.Logger.Warn("console: "+what, slog.Any("error", err))
	c.problem(ctx, http.StatusServiceUnavailable, "Redis did not answer ("+what+"); try again.")
}
