package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// mountDashboard serves asynqmon under DashboardPath behind basic auth. The
// handler sees the full path: asynqmon routes its pages, static files and
// /api calls relative to its root path.
func (h *handlers) mountDashboard(r *gin.Engine) {
	auth := gin.BasicAuthForRealm(gin.Accounts{h.AdminUser: h.AdminPassword}, "wxnotify admin")
	r.GET(DashboardPath, auth, func(c *gin.Context) {
		c.Redirect(http.StatusMovedPermanently, DashboardPath+"/")
	})
	r.Any(DashboardPath+"/*any", auth, gin.WrapH(h.Dashboard))
}
