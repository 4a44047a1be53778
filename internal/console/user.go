package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/record"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/wechat"
)

// userPage is what the console shows about one user.
type userPage struct {
	UserID string // for links only; never rendered when idIsOpenID
	Label  string // the user id, masked if it is an openid
	Bound  bool
	OpenID string // masked
	// BoundAt is when the user last logged in (and bound).
	BoundAt      time.Time
	Grants       []grantRow
	Unsubscribed []unsubRow
	Recent       []notificationRow
	// idIsOpenID: the user id is an openid (the api without USER_JWT_*, or
	// a notification posted by openid), so it is shown masked.
	idIsOpenID bool
}

type grantRow struct {
	Template   string // registry name, or "" for a template no longer registered
	TemplateID string
	Left       int
}

type unsubRow struct {
	Template   string
	TemplateID string
	At         time.Time
}

func (u *userPage) known() bool {
	return u.Bound || len(u.Grants) > 0 || len(u.Unsubscribed) > 0 || len(u.Recent) > 0
}

// recentLimit is how many of a user's notifications the page lists.
const recentLimit = 50

// readUser reads everything the user page shows about userID.
func (v *view) readUser(ctx context.Context, userID string) (*userPage, error) {
	u := &userPage{UserID: userID}
	b, ok, err := v.Users.Lookup(ctx, userID)
	if err != nil {
		return nil, err
	}
	if ok {
		u.Bound, u.OpenID, u.BoundAt = true, wechat.MaskOpenID(b.OpenID), b.BoundAt
	}
	grants, err := v.Users.Grants(ctx, userID)
	if err != nil {
		return nil, err
	}
	for id, n := range grants {
		u.Grants = append(u.Grants, grantRow{Template: v.templateName(id), TemplateID: id, Left: n})
	}
	slices.SortFunc(u.Grants, func(a, b grantRow) int { return strings.Compare(a.Template+a.TemplateID, b.Template+b.TemplateID) })
	off, err := v.Users.Unsubscribed(ctx, userID)
	if err != nil {
		return nil, err
	}
	for id, at := range off {
		u.Unsubscribed = append(u.Unsubscribed, unsubRow{Template: v.templateName(id), TemplateID: id, At: at})
	}
	slices.SortFunc(u.Unsubscribed, func(a, b unsubRow) int { return strings.Compare(a.Template+a.TemplateID, b.Template+b.TemplateID) })
	recent, _, err := v.Notifications.UserNotifications(ctx, userID, "", recentLimit)
	if err != nil {
		return nil, err
	}
	for _, st := range recent {
		u.Recent = append(u.Recent, v.rowOf(st))
	}
	u.idIsOpenID = isOpenID(userID, b)
	u.Label = userID
	if u.idIsOpenID {
		u.Label = maskedUser(userID, u.Bound)
	}
	return u, nil
}

// maskedUser labels a user id shown masked: an openid when its binding
// says so (bound to itself); else "not bound", which is all that is known
// — a business user id that never logged in and an openid nobody bound
// read the same, and the mask keeps the latter's secret.
func maskedUser(userID string, bound bool) string {
	if bound {
		return wechat.MaskOpenID(userID) + " (an openid, masked)"
	}
	return wechat.MaskOpenID(userID) + " (not bound, masked)"
}

// isOpenID reports whether userID must be shown masked: anything but a
// user id whose own binding names another openid. A notification posted
// with an openid records the openid as its user, bound or not, and nothing
// else tells the two apart; an unknown id is masked too, at the cost of a
// few readable characters of an unbound business user id.
func isOpenID(userID string, b subscriber.Binding) bool {
	return b.OpenID == "" || b.OpenID == userID
}

func (v *view) templateName(templateID string) string {
	if t, ok := v.Registry.ByTemplateID(templateID); ok {
		return t.Name
	}
	return ""
}

// notificationRow is a notification in a table, with its timeline's link.
type notificationRow struct {
	record.Status
	Link string
}

func (v *view) rowOf(st record.Status) notificationRow {
	return notificationRow{Status: st, Link: v.link("/admin/notifications/" + url.PathEscape(st.ID))}
}

// userLink is the user page's path in v's app; the id is path-escaped.
func (v *view) userLink(userID string) string {
	return v.link("/admin/users/" + url.PathEscape(userID))
}

// user is a user's page: binding, grants, unsubscribed templates and recent
// notifications. A user whose id is an openid is shown masked, and no page
// links here for them (the link would carry the openid): search finds them.
func (c *Console) user(ctx *gin.Context, v *view) {
	userID := strings.TrimPrefix(ctx.Param("user_id"), "/")
	if !subscriber.ValidUserID(userID) {
		c.problem(ctx, v, http.StatusBadRequest, "Not a user id: 1 to 128 printable characters without spaces or braces.")
		return
	}
	u, err := v.readUser(ctx.Request.Context(), userID)
	if err != nil {
		c.unavailable(ctx, v, "read user", err)
		return
	}
	if !u.known() {
		c.problem(ctx, v, http.StatusNotFound, "No user by that id: never logged in, no grants, no notifications kept.")
		return
	}
	c.render(ctx, v, http.StatusOK, "user", "User "+u.Label, u)
}
