package console

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/record"
	"wxnotify/internal/wechat"
)

// timelinePage is one notification's story.
type timelinePage struct {
	record.Status
	// UserLabel is the user id, masked if it is an openid; UserLink is ""
	// then. OpenID is the bound openid, masked ("" if unbound).
	UserLabel string
	UserLink  string
	OpenID    string
	// Standing is where it stands, in plain words (words.go).
	Standing string
	// Sent is what it sends (sent.go).
	Sent sentView
}

// notification is a notification's timeline: accepted, each attempt of its
// history, the delivered msgid and WeChat's sent event, the state now.
func (c *Console) notification(ctx *gin.Context, v *view) {
	id, ok := notificationID(ctx.Param("id"))
	if !ok {
		c.problem(ctx, v, http.StatusBadRequest, "Not a notification id: a template name, a dash (or a dot, as asynqmon shows it) and 32 hexadecimal digits.")
		return
	}
	if id != ctx.Param("id") {
		// Its task's id, copied from asynqmon: the page has one address.
		ctx.Redirect(http.StatusMovedPermanently, v.link("/admin/notifications/"+url.PathEscape(id)))
		return
	}
	rctx := ctx.Request.Context()
	st, err := v.Notifications.Status(rctx, id)
	if errors.Is(err, record.ErrNotFound) {
		c.problem(ctx, v, http.StatusNotFound, "No notification "+id+": never accepted, or past its retention.")
		return
	}
	if err != nil {
		c.unavailable(ctx, v, "read notification", err)
		return
	}
	p := timelinePage{Status: st, UserLabel: st.UserID, Standing: standing(st, c.Now())}
	b, bound, err := v.Users.Lookup(rctx, st.UserID)
	if err != nil {
		c.unavailable(ctx, v, "read binding", err)
		return
	}
	if bound {
		p.OpenID = wechat.MaskOpenID(b.OpenID)
	}
	if isOpenID(st.UserID, b) {
		p.UserLabel = maskedUser(st.UserID, bound)
	} else {
		p.UserLink = v.userLink(st.UserID)
	}
	if p.Sent, err = c.sent(rctx, v, id, st.Template); err != nil {
		c.unavailable(ctx, v, "read the task", err)
		return
	}
	c.render(ctx, v, http.StatusOK, "notification", "Notification "+id, p)
}
