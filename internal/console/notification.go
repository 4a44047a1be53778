package console

import (
	"errors"
	"net/http"

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
}

// notification is a notification's timeline: accepted, each attempt of its
// history, the delivered msgid and WeChat's sent event, the state now.
func (c *Console) notification(ctx *gin.Context, v *view) {
	id := ctx.Param("id")
	if !idPattern.MatchString(id) {
		c.problem(ctx, v, http.StatusBadRequest, "Not a notification id: a template name, a dash and 32 hexadecimal digits.")
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
	p := timelinePage{Status: st, UserLabel: st.UserID}
	b, bound, err := v.Users.Lookup(rctx, st.UserID)
	if err != nil {
		c.unavailable(ctx, v, "read binding", err)
		return
	}
	if bound {
		p.OpenID = wechat.MaskOpenID(b.OpenID)
	}
	if isOpenID(st.UserID, b) {
		p.UserLabel = wechat.MaskOpenID(st.UserID) + " (an openid, masked)"
		if !bound {
			p.OpenID = wechat.MaskOpenID(st.UserID)
		}
	} else {
		p.UserLink = v.userLink(st.UserID)
	}
	c.render(ctx, v, http.StatusOK, "notification", "Notification "+id, p)
}
