package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// mountDashboard serves asynqmon under DashboardPath behind basic auth. The
// handler sees the full path: asynqmon routes its pages, static files and
// /api calls relative to its root path.
func (h *handlers) mountDashboard(r *gin.Engine) {
	auth := adminAuth(h.AdminUser, h.AdminPassword)
	r.GET(DashboardPath, auth, func(c *gin.Context) {
		c.Redirect(http.StatusMovedPermanently, DashboardPath+"/")
	})
	r.Any(DashboardPath+"/*any", auth, gin.WrapH(h.Dashboard))
}

// adminAuth admits the dashboard's one account by HTTP basic auth, compared
// in constant time like the API keys. A refusal asks the browser for the
// password and carries the API's usual error body (gin's BasicAuth answers
// an empty one).
func adminAuth(user, password string) gin.HandlerFunc {
	account := newKeyRing([]string{user + "\x00" + password})
	return func(c *gin.Context) {
		u, p, ok := c.Request.BasicAuth()
		if !ok || !account.valid(u+"\x00"+p) {
			c.Header("WWW-Authenticate", `Basic realm="wxnotify admin"`)
			fail(c, http.StatusUnauthorized, "unauthorized", "the dashboard needs the admin user and password (HTTP basic auth)", "")
			return
		}
		c.Next()
	}
}
