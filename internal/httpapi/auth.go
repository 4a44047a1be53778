package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(c *gin.Context) (string, bool) {
	h := c.GetHeader("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// requireAPIKey admits the order service.
func (h *handlers) requireAPIKey(c *gin.Context) {
	key, ok := bearer(c)
	if !ok {
		fail(c, http.StatusUnauthorized, "unauthorized", "send the order service's API key as Authorization: Bearer <key>", "")
		return
	}
	k, valid := h.keys.find(key)
	if !valid {
		fail(c, http.StatusUnauthorized, "unauthorized", "API key not accepted", "")
		return
	}
	c.Set(keyScope, k)
	c.Next()
}

// requireSession admits a logged-in mini program user and stores the user
// id and the app the session belongs to.
func (h *handlers) requireSession(c *gin.Context) {
	token, ok := bearer(c)
	if !ok {
		fail(c, http.StatusUnauthorized, "unauthorized", "send the session_token from /v1/wx/login as Authorization: Bearer <token>", "")
		return
	}
	app, raw, known := h.apps.sessionApp(token)
	if !known {
		fail(c, http.StatusUnauthorized, "invalid_session", "session unknown or expired; log in again", "")
		return
	}
	userID, ok, err := app.Users.SessionUser(c.Request.Context(), raw)
	if err != nil {
		h.storeDown(c, "read session", err)
		return
	}
	if !ok {
		fail(c, http.StatusUnauthorized, "invalid_session", "session unknown or expired; log in again", "")
		return
	}
	c.Set(userKey, userID)
	c.Set(appKey, app)
	c.Next()
}

const userKey = "wxnotify.user_id"

// storeDown answers 503 for a Redis failure and logs it.
func (h *handlers) storeDown(c *gin.Context, what string, err error) {
	h.Logger.Error("redis unavailable", "op", what, "error", err)
	unavailable(c, "unavailable", "storage is unavailable; retry shortly", 0)
}
