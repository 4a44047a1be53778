package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/identity"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/wechat"
)

type loginRequest struct {
	Code string `json:"code"`
	// AppID is the mini program's own; optional when one app is served.
	AppID string `json:"appid"`
}

type loginResponse struct {
	SessionToken string    `json:"session_token"`
	ExpiresAt    time.Time `json:"expires_at"`
	UserID       string    `json:"user_id"`
}

// login is POST /v1/wx/login: exchange a wx.login code for the openid, bind
// it to the user, start a session.
func (h *handlers) login(c *gin.Context) {
	ctx := c.Request.Context()
	if wait, ok, err := h.Limiter.Allow(ctx, c.ClientIP()); err != nil {
		// Redis is down, so the binding could not be stored: refuse now,
		// before the single-use code is spent on WeChat.
		h.storeDown(c, "login rate limit", err)
		return
	} else if !ok {
		c.Header("Retry-After", retryAfterSeconds(wait))
		fail(c, http.StatusTooManyRequests, "rate_limited", "too many logins from this address; retry later", "")
		return
	}

	// The business's identity comes first: a code is single-use, so do not
	// spend it on a request that will be refused anyway.
	var userID string
	if h.Identity != nil {
		token, ok := bearer(c)
		if !ok {
			fail(c, http.StatusUnauthorized, "unauthorized", "send your auth's JWT as Authorization: Bearer <jwt>", "")
			return
		}
		id, err := h.Identity.UserID(token)
		var ie *identity.Error
		if errors.As(err, &ie) {
			fail(c, http.StatusUnauthorized, "invalid_token", ie.Reason, "")
			return
		} else if err != nil {
			fail(c, http.StatusUnauthorized, "invalid_token", "token is not valid", "")
			return
		}
		if !subscriber.ValidUserID(id) {
			fail(c, http.StatusUnauthorized, "invalid_token", "the token's user id is not usable: "+subscriber.ErrInvalidUserID.Error(), "")
			return
		}
		userID = id
	}

	var req loginRequest
	if !decodeJSON(c, &req) {
		return
	}
	if req.Code == "" || len(req.Code) > 128 {
		fail(c, http.StatusBadRequest, "invalid_field", "code must be the non-empty code from wx.login", "code")
		return
	}
	app, ok := h.loginApp(c, req.AppID)
	if !ok {
		return
	}
	sess, err := app.WeChat.Code2Session(ctx, req.Code)
	if err != nil {
		h.wechatLoginFailed(c, err)
		return
	}
	if userID == "" {
		userID = sess.OpenID // without the business's JWT, the openid is the user id
	}
	if _, err := app.Users.Bind(ctx, subscriber.Binding{UserID: userID, OpenID: sess.OpenID, UnionID: sess.UnionID, BoundAt: time.Now()}); err != nil {
		h.storeDown(c, "bind user", err)
		return
	}
	token, expires, err := app.Users.NewSession(ctx, userID)
	if err != nil {
		h.storeDown(c, "new session", err)
		return
	}
	logged := userID
	if userID == sess.OpenID {
		logged = wechat.MaskOpenID(userID) // without the business's JWT the user id is the openid
	}
	logWith(c, slog.String("app", app.Name), slog.String("user_id", logged), slog.String("openid", wechat.MaskOpenID(sess.OpenID)))
	c.JSON(http.StatusOK, loginResponse{SessionToken: sessionToken(app, token), ExpiresAt: expires, UserID: userID})
}

// wechatLoginFailed answers what code2Session's failure means to the mini program.
func (h *handlers) wechatLoginFailed(c *gin.Context, err error) {
	out := wechat.Classify(err)
	switch {
	case out.Reason == "invalid_code":
		fail(c, http.StatusUnauthorized, "invalid_code", "the wx.login code is invalid, expired or used; call wx.login again", "code")
	case out.Reason == "user_blocked":
		fail(c, http.StatusForbidden, "user_blocked", "WeChat refuses this user's login (high-risk account)", "")
	case out.Class == wechat.RateLimited || out.Class == wechat.Transient:
		h.Logger.Warn("code2Session unavailable", "reason", out.Reason, "errcode", out.Code)
		unavailable(c, "wechat_unavailable", "WeChat is busy; retry shortly", out.Wait)
	default:
		// Our configuration (secret, appid, permissions): nothing the client can fix.
		h.Logger.Error("code2Session refused our credentials", "reason", out.Reason, "errcode", out.Code, "error", err)
		fail(c, http.StatusBadGateway, "wechat_error", "WeChat refused the login for a server-side reason", "")
	}
}
