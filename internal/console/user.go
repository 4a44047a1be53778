package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/notification"
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
	Recent       []notification.Status
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
func (c *Console) readUser(ctx context.Context, userID string) (*userPage, error) {
	u := &userPage{UserID: userID}
	b, ok, err := c.Users.Lookup(ctx, userID)
	if err != nil {
		return nil, err
	}
	if ok {
		u.Bound, u.OpenID, u.BoundAt = true, wechat.MaskOpenID(b.OpenID), b.BoundAt
	}
	grants, err := c.Users.Grants(ctx, userID)
	if err != nil {
		return nil, err
	}
	for id, n := range grants {
		u.Grants = append(u.Grants, grantRow{Template: c.templateName(id), TemplateID: id, Left: n})
	}
	slices.SortFunc(u.Grants, func(a, b grantRow) int { return strings.Compare(a.Template+a.TemplateID, b.Template+b.TemplateID) })
	off, err := c.Users.Unsubscribed(ctx, userID)
	if err != nil {
		return nil, err
	}
	for id, at := range off {
		u.Unsubscribed = append(u.Unsubscribed, unsubRow{Template: c.templateName(id), TemplateID: id, At: at})
	}
	slices.SortFunc(u.Unsubscribed, func(a, b unsubRow) int { return strings.Compare(a.Template+a.TemplateID, b.Template+b.TemplateID) })
	if u.Recent, _, err = c.Notifications.UserNotifications(ctx, userID, "", recentLimit); err != nil {
		return nil, err
	}
	u.idIsOpenID = isOpenID(userID, b)
	u.Label = userID
	if u.idIsOpenID {
		u.Label = wechat.MaskOpenID(userID) + " (an openid, masked)"
	}
	return u, nil
}

// isOpenID reports whether userID must be shown masked: anything but a
// user id whose own binding names another openid. A notification posted
// with an openid records the openid as its user, bound or not, and nothing
// else tells the two apart; an unknown id is masked too, at the cost of a
// few readable characters of an unbound business user id.
func isOpenID(userID string, b subscriber.Binding) bool {
	return b.OpenID == "" || b.OpenID == userID
}

func (c *Console) templateName(templateID string) string {
	if t, ok := c.Registry.ByTemplateID(templateID); ok {
		return t.Name
	}
	return ""
}

// userLink is the user page's path; the id is path-escaped.
func userLink(userID string) string { return "/admin/users/" + url.PathEscape(userID) }

// user is a user's page: binding, grants, unsubscribed templates and recent
// notifications. A user whose id is an openid is shown masked, and no page
// links here for them (the link would carry the openid): search finds them.
func (c *Console) user(ctx *gin.Context) {
	userID := strings.TrimPrefix(ctx.Param("user_id"), "/")
	if !subscriber.ValidUserID(userID) {
		c.problem(ctx, http.StatusBadRequest, "Not a user id: 1 to 128 printable characters without spaces or braces.")
		return
	}
	u, err := c.readUser(ctx.Request.Context(), userID)
	if err != nil {
		c.unavailable(ctx, "read user", err)
		return
	}
	if !u.known() {
		c.problem(ctx, http.StatusNotFound, "No user by that id: never logged in, no grants, no notifications kept.")
		return
	}
	c.render(ctx, http.StatusOK, "user", "User "+u.Label, u)
}
