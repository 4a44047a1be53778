package console

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"unicode"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/record"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
	"wxnotify/internal/wechat"
)

// searchPage is the front page: the box, and what the query found.
type searchPage struct {
	// Query is echoed back unless it was an openid (never shown in clear).
	Query     string
	Template  string
	Templates []string
	// App keeps the app in the form ("" with a single app), and Action,
	// where the form posts, carries it.
	App      string
	Action   string
	Searched bool
	// Notifications found by id or dedupe key; Users by user id or openid.
	Notifications []notificationRow
	Users         []userHit
}

// userHit is a user the query named; a user whose id is their openid is
// shown masked and inline (a link would carry the openid).
type userHit struct {
	Label  string
	Link   string
	Via    string
	Detail *userPage
}

// idPattern is a notification id (task.ID): the template's name, a dash,
// 32 hex digits.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}-[0-9a-f]{32}$`)

// taskIDPattern is a notification's asynq task id (task.TaskID), as
// asynqmon shows it and an operator copies it: a dot for the dash.
var taskIDPattern = regexp.MustCompile(`^[A-Za-z0-9_:]{1,128}\.[0-9a-f]{32}$`)

// notificationID is s as a notification id, from either form.
func notificationID(s string) (string, bool) {
	if taskIDPattern.MatchString(s) {
		return task.IDOfTask(s), true
	}
	return s, idPattern.MatchString(s)
}

const maxQuery = 256

// search finds notifications and users by what the operator has at hand:
// a notification id (or its task's id from asynqmon), a dedupe key (in the
// chosen template or every one), a user id or an openid.
//
// The page's form posts its query: a GET would put an openid typed into it
// in the address bar, the browser's history and any log of URLs. The
// answer to the POST is the results page itself (no redirect to a URL with
// the query). A GET with ?q= is still served, for links.
func (c *Console) search(ctx *gin.Context, v *view) {
	q, tmpl := strings.TrimSpace(ctx.Query("q")), ctx.Query("template")
	if ctx.Request.Method == http.MethodPost {
		q, tmpl = strings.TrimSpace(ctx.PostForm("q")), ctx.PostForm("template")
	}
	sp := searchPage{Template: tmpl, App: v.param, Action: v.link("/admin/")}
	for _, t := range v.Registry.Templates() {
		sp.Templates = append(sp.Templates, t.Name)
	}
	if tmpl != "" {
		if _, ok := v.Registry.Lookup(tmpl); !ok {
			c.problem(ctx, v, http.StatusBadRequest, "No template named "+tmpl+" in the registry.")
			return
		}
	}
	if q == "" {
		c.render(ctx, v, http.StatusOK, "search", "Search", sp)
		return
	}
	if len(q) > maxQuery || strings.ContainsFunc(q, unicode.IsControl) {
		c.problem(ctx, v, http.StatusBadRequest, "A search is at most 256 characters, without control characters.")
		return
	}
	sp.Searched = true
	rctx := ctx.Request.Context()
	seen := map[string]bool{}
	add := func(st record.Status) {
		if !seen[st.ID] {
			seen[st.ID] = true
			sp.Notifications = append(sp.Notifications, v.rowOf(st))
		}
	}
	// A notification id, or its task's.
	if id, ok := notificationID(q); ok {
		st, err := v.Notifications.Status(rctx, id)
		switch {
		case err == nil:
			add(st)
		case !errors.Is(err, record.ErrNotFound):
			c.unavailable(ctx, v, "read notification", err)
			return
		}
	}
	// A dedupe key, in the chosen template or in each.
	names := sp.Templates
	if tmpl != "" {
		names = []string{tmpl}
	}
	for _, name := range names {
		st, err := v.Notifications.Lookup(rctx, name, q)
		switch {
		case err == nil:
			add(st)
		case !errors.Is(err, record.ErrNotFound):
			c.unavailable(ctx, v, "look up dedupe key", err)
			return
		}
	}
	// An openid, through the binding's reverse index.
	openid := false
	if user, ok, err := v.Users.UserOf(rctx, q); err != nil {
		c.unavailable(ctx, v, "read openid index", err)
		return
	} else if ok {
		openid = true
		u, err := v.readUser(rctx, user)
		if err != nil {
			c.unavailable(ctx, v, "read user", err)
			return
		}
		sp.Users = append(sp.Users, v.hitOf(u, "openid "+wechat.MaskOpenID(q)))
		for _, r := range u.Recent {
			add(r.Status)
		}
	}
	// A user id.
	if subscriber.ValidUserID(q) && !openid {
		u, err := v.readUser(rctx, q)
		if err != nil {
			c.unavailable(ctx, v, "read user", err)
			return
		}
		if u.known() {
			if u.idIsOpenID {
				openid = true
			}
			sp.Users = append(sp.Users, v.hitOf(u, "user id"))
			for _, r := range u.Recent {
				add(r.Status)
			}
		}
	}
	if !openid {
		sp.Query = q
	}
	c.render(ctx, v, http.StatusOK, "search", "Search", sp)
}

// hitOf is user u as a search hit, found by via.
func (v *view) hitOf(u *userPage, via string) userHit {
	h := userHit{Label: u.Label, Via: via}
	if u.idIsOpenID {
		h.Detail = u
	} else {
		h.Link = v.userLink(u.UserID)
	}
	return h
}
