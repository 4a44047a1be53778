package httpapi

import (
	"github.com/gin-gonic/gin"
)

// ConsolePages are the operator console's pages; *console.Console is one.
type ConsolePages interface {
	Register(g gin.IRoutes)
}

// ConsolePath is where the operator console is served; the dashboard keeps
// DashboardPath under it.
const ConsolePath = "/admin"

// mountConsole serves the console's pages under ConsolePath behind the
// dashboard's basic auth, each request bounded like the API's.
func (h *handlers) mountConsole(r *gin.Engine) {
	g := r.Group(ConsolePath, h.admin, deadline(h.StoreTimeout))
	h.Console.Register(g)
}
