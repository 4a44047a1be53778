package wechat

import (
	"context"
	"log/slog"
	"time"
)

// Token is an access_token and how long WeChat says it stays valid from now.
type Token struct {
	Value     string
	ExpiresIn time.Duration
}

// LogValue keeps the token itself out of logs.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Duration("expires_in", t.ExpiresIn))
}

// StableToken calls POST /cgi-bin/stable_token. In normal mode
// (forceRefresh false) every caller gets the same token while it is valid,
// and WeChat rolls it five minutes before expiry with both tokens working
// meanwhile, so processes calling it never invalidate each other.
// forceRefresh invalidates the current token at once and is limited to 20 a
// day, 30 s apart: it is for a leaked token, never a reaction to 40001.
func (c *Client) StableToken(ctx context.Context, forceRefresh bool) (Token, error) {
	body := struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", c.appID, c.secret, forceRefresh}
	var out struct {
		status
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := c.call(ctx, EndpointStableToken, "POST", "/cgi-bin/stable_token", nil, body, &out); err != nil {
		return Token{}, err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return Token{}, &MalformedError{Endpoint: EndpointStableToken, Reason: "no access_token or expires_in in a successful answer"}
	}
	return Token{Value: out.AccessToken, ExpiresIn: time.Duration(out.ExpiresIn) * time.Second}, nil
}
