package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"wxnotify/internal/wechat"
)

// NewDashboard builds asynqmon for DashboardPath with payloads shown as the
// logs show them: openids masked (wechat.MaskOpenID). userIDsAreOpenIDs says
// that user ids are openids too (no business JWT at login), so they are
// masked as well. Close it when done: it holds a Redis pool of its own.
func NewDashboard(conn asynq.RedisConnOpt, userIDsAreOpenIDs bool) *asynqmon.HTTPHandler {
	m := payloadMasker{userIDsAreOpenIDs: userIDsAreOpenIDs}
	return asynqmon.New(asynqmon.Options{
		RootPath: DashboardPath, RedisConnOpt: conn,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(func(_ string, p []byte) string { return m.format(p) }),
		ResultFormatter:  asynqmon.ResultFormatterFunc(func(_ string, r []byte) string { return m.format(r) }),
	})
}

// payloadMasker shows a task's payload (or result) with its openids
// masked. A notification payload carries the receiver's openid when the
// order service named one, and its user id is the openid when no business
// JWT is configured or the openid was not bound to a user.
type payloadMasker struct{ userIDsAreOpenIDs bool }

func (m payloadMasker) format(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		// Not what the api enqueues: shown in part it could still leak an openid.
		return fmt.Sprintf("(%d bytes that are not a JSON object: not shown, they may hold an openid)", len(b))
	}
	openid, _ := v["openid"].(string)
	if openid != "" {
		v["openid"] = wechat.MaskOpenID(openid)
	}
	if user, _ := v["user_id"].(string); user != "" && (m.userIDsAreOpenIDs || user == openid) {
		v["user_id"] = wechat.MaskOpenID(user)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // "&" stays "&" in the dashboard; React escapes what it shows
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("(payload not shown: %v)", err)
	}
	return string(bytes.TrimSuffix(out.Bytes(), []byte("\n")))
}

// mountDashboard serves asynqmon under DashboardPath behind basic auth. The
// handler sees the full path: asynqmon routes its pages, static files and
// /api calls relative to its root path. Its page is served as
// dashboardPage rewrites it (no other hosts, a Content-Security-Policy);
// sameOriginAdmin has already refused actions from other origins.
func (h *handlers) mountDashboard(r *gin.Engine) error {
	page, err := newDashboardPage(h.Dashboard, DashboardPath)
	if err != nil {
		return fmt.Errorf("httpapi: the dashboard's page: %w", err)
	}
	auth := h.admin
	r.GET(DashboardPath, auth, func(c *gin.Context) {
		c.Redirect(http.StatusMovedPermanently, DashboardPath+"/")
	})
	r.Any(DashboardPath+"/*any", auth, gin.WrapH(page.wrap(h.Dashboard)))
	return nil
}

// adminAuth admits the dashboard's one account by HTTP basic auth, compared
// in constant time like the API keys. A refusal asks the browser for the
// password and carries the API's usual error body (gin's BasicAuth answers
// an empty one).
func adminAuth(user, password string) gin.HandlerFunc {
	account := newKeyRing([]string{user + "\x00" + password}, nil)
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
