package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// keyRing holds the order service's API keys as SHA-256 digests, compared
// in constant time, so that neither timing nor a memory dump reveals them.
type keyRing [][32]byte

func newKeyRing(keys []string) keyRing {
	ring := make(keyRing, 0, len(keys))
	for _, k := range keys {
		ring = append(ring, sha256.Sum256([]byte(k)))
	}
	return ring
}

func (r keyRing) valid(key string) bool {
	sum := sha256.Sum256([]byte(key))
	ok := 0
	for _, k := range r {
		ok |= subtle.ConstantTimeCompare(k[:], sum[:])
	}
	return ok == 1
}

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
	if !h.keys.valid(key) {
		fail(c, http.StatusUnauthorized, "unauthorized", "API key not accepted", "")
		return
	}
	c.Next()
}

// requireSession admits a logged-in mini program user and stores the user id.
func (h *handlers) requireSession(c *gin.Context) {
	token, ok := bearer(c)
	if !ok {
		fail(c, http.StatusUnauthorized, "unauthorized", "send the session_token from /v1/wx/login as Authorization: Bearer <token>", "")
		return
	}
	userID, ok, err := h.Users.SessionUser(c.Request.Context(), token)
	if err != nil {
		h.storeDown(c, "read session", err)
		return
	}
	if !ok {
		fail(c, http.StatusUnauthorized, "invalid_session", "session unknown or expired; log in again", "")
		return
	}
	c.Set(userKey, userID)
	c.Next()
}

const userKey = "wxnotify.user_id"

// storeDown answers 503 for a Redis failure and logs it.
func (h *handlers) storeDown(c *gin.Context, what string, err error) {
	h.Logger.Error("redis unavailable", "op", what, "error", err)
	unavailable(c, "unavailable", "storage is unavailable; retry shortly", 0)
}
