// Package wechat is a client for the WeChat server APIs wxnotify uses:
// code2Session (login), stable_token (access token), subscribeMessage.send
// and the order shipping service's upload_shipping_info,
// notify_confirm_receive and get_order, with one error type and one
// function (Classify) that says what each outcome means for the caller:
// done, retry later, fix the token, or give up.
//
// The client never puts a secret (app secret, access_token, session_key) into
// an error or a log line: transport errors are stripped of the request URL,
// which carries the secret or token in its query.
package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is WeChat's production API host.
const DefaultBaseURL = "https://api.weixin.qq.com"

// Endpoint names, used in errors, metrics and classification.
const (
	EndpointCode2Session = "jscode2session"
	EndpointStableToken  = "stable_token"
	EndpointToken        = "token" // the legacy GET /cgi-bin/token, never called by this client
	EndpointSend         = "subscribe_send"

	// The order shipping service's (shipping.go).
	EndpointUploadShipping       = "upload_shipping_info"
	EndpointNotifyConfirmReceive = "notify_confirm_receive"
	EndpointGetOrder             = "get_order"
)

// maxBody bounds how much of a response is read; WeChat answers are tiny.
const maxBody = 1 << 20

// Config is what a Client needs; AppID and AppSecret are required.
type Config struct {
	AppID     string
	AppSecret string
	// BaseURL defaults to DefaultBaseURL; tests and the dev stack point it at the sandbox.
	BaseURL string
	// HTTPClient defaults to a client with a pooled transport sized for
	// many concurrent sends to one host.
	HTTPClient *http.Client
	// Timeout bounds each call, on top of the caller's context. Default 5 s.
	Timeout time.Duration
}

// Client calls the WeChat server APIs for one mini program (one appid).
// It is safe for concurrent use.
type Client struct {
	appID   string
	secret  string
	base    string
	http    *http.Client
	timeout time.Duration
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" {
		return nil, errors.New("wechat: AppID is empty")
	}
	if cfg.AppSecret == "" {
		return nil, errors.New("wechat: AppSecret is empty")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("wechat: BaseURL %q is not an http(s) URL", base)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = NewHTTPClient()
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Client{appID: cfg.AppID, secret: cfg.AppSecret, base: strings.TrimRight(base, "/"), http: hc, timeout: timeout}, nil
}

// NewHTTPClient returns an http.Client whose transport keeps enough idle
// connections to one host for a busy worker to reuse them instead of
// opening a TLS connection per send.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t}
}

// AppID is the mini program this client speaks for.
func (c *Client) AppID() string { return c.appID }

// call performs one request and decodes a JSON answer into out, whose type
// must embed status. It returns *Error for a non-zero errcode, *HTTPError for
// a non-2xx status, *NetError for transport failures and *MalformedError for
// an unreadable body.
func (c *Client) call(ctx context.Context, endpoint, method, path string, query url.Values, body any, out response) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("wechat %s: encode request: %w", endpoint, err)
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("wechat %s: build request: %w", endpoint, stripURL(err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &NetError{Endpoint: endpoint, Err: stripURL(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &NetError{Endpoint: endpoint, Err: stripURL(err), Sent: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &HTTPError{Endpoint: endpoint, Status: resp.StatusCode}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &MalformedError{Endpoint: endpoint, Reason: describeJSONError(err, data)}
	}
	if st := out.result(); st.ErrCode != 0 {
		return &Error{Endpoint: endpoint, Code: st.ErrCode, Msg: st.ErrMsg}
	}
	return nil
}

// status is the errcode/errmsg pair every WeChat answer may carry; success
// has errcode 0 or no errcode at all.
type status struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (s *status) result() status { return *s }

type response interface{ result() status }

// stripURL removes the request URL from a transport error: the URL carries the
// app secret (code2Session) or the access_token (send) in its query.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func describeJSONError(err error, data []byte) string {
	if len(data) == 0 {
		return "empty body"
	}
	return fmt.Sprintf("%d-byte body is not the expected JSON: %v", len(data), err)
}
