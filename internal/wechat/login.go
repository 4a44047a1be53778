package wechat

import (
	"context"
	"log/slog"
	"net/url"
)

// Session is what code2Session answers for a wx.login code.
type Session struct {
	OpenID string
	// UnionID is set only when the mini program is bound to an Open Platform account.
	UnionID string
	// SessionKey decrypts data the mini program gets from WeChat (phone
	// number, …). It never leaves the login path: it is not marshalled to
	// JSON and not logged.
	SessionKey string `json:"-"`
}

// LogValue keeps the session key out of logs.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("openid", MaskOpenID(s.OpenID)), slog.Bool("unionid", s.UnionID != ""))
}

// Code2Session exchanges a wx.login code for the user's openid. It needs no
// access_token. A code works once and for five minutes: an old or reused code
// is an *Error that Classify reports as Permanent with reason "invalid_code".
func (c *Client) Code2Session(ctx context.Context, code string) (Session, error) {
	q := url.Values{
		"appid":      {c.appID},
		"secret":     {c.secret},
		"js_code":    {code},
		"grant_type": {"authorization_code"},
	}
	var out struct {
		status
		OpenID     string `json:"openid"`
		UnionID    string `json:"unionid"`
		SessionKey string `json:"session_key"`
	}
	if err := c.call(ctx, EndpointCode2Session, "GET", "/sns/jscode2session", q, nil, &out); err != nil {
		return Session{}, err
	}
	// The reference: judge success by a non-empty openid.
	if out.OpenID == "" {
		return Session{}, &MalformedError{Endpoint: EndpointCode2Session, Reason: "no openid in a successful answer"}
	}
	return Session{OpenID: out.OpenID, UnionID: out.UnionID, SessionKey: out.SessionKey}, nil
}

// MaskOpenID shortens an openid for logs to its last four characters.
func MaskOpenID(openid string) string {
	if len(openid) <= 4 {
		return "****"
	}
	return "…" + openid[len(openid)-4:]
}
