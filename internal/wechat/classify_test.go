package wechat_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/wechat"
)

// call is one client call against an env, returning its error.
type call func(t *testing.T, e *env) error

func login(code func(t *testing.T, e *env) string) call {
	return func(t *testing.T, e *env) error {
		_, err := e.client.Code2Session(context.Background(), code(t, e))
		return err
	}
}

func freshCode(t *testing.T, e *env) string { c, _ := e.sb.Login("", "", false); return c }

func token(t *testing.T, e *env) error {
	_, err := e.client.StableToken(context.Background(), false)
	return err
}

// send sends a message to a fresh subscriber after edit changes it.
func send(edit func(e *env, tok string, m *wechat.Message) string) call {
	return func(t *testing.T, e *env) error {
		m := e.orderMessage(e.subscriber(t))
		tok := e.token(t)
		if edit != nil {
			tok = edit(e, tok, &m)
		}
		_, err := e.client.SendSubscribe(context.Background(), tok, m)
		return err
	}
}

func script(endpoint string, errcode int) func(*sandbox.Config) {
	return func(c *sandbox.Config) {
		c.Faults.Script = []sandbox.Scripted{{Endpoint: endpoint, ErrCode: errcode}}
	}
}

func faults(f sandbox.Faults) func(*sandbox.Config) {
	return func(c *sandbox.Config) { c.Faults = f }
}

// Every errcode WeChat documents for these endpoints, produced by the sandbox the
// way WeChat would produce it, and what Classify makes of it.
func TestEveryReferenceRowThroughTheSandbox(t *testing.T) {
	t.Parallel()
	type row struct {
		name     string
		cfg      func(*sandbox.Config)
		call     call
		code     int
		class    wechat.Class
		reason   string
		minWait  time.Duration
		maxWait  time.Duration // 0: no upper bound
		errmsgIn string
	}
	rows := []row{
		// 1. code2Session
		{name: "login ok", call: login(freshCode), class: wechat.Delivered, reason: "ok"},
		{name: "login unknown code", call: login(func(*testing.T, *env) string { return "no-such-code" }), code: 40029, class: wechat.Permanent, reason: "invalid_code"},
		{name: "login expired code", call: login(func(t *testing.T, e *env) string {
			c := freshCode(t, e)
			e.clock.Advance(6 * time.Minute)
			return c
		}), code: 40029, class: wechat.Permanent, reason: "invalid_code"},
		{name: "login reused code", call: func(t *testing.T, e *env) error {
			c := freshCode(t, e)
			if _, err := e.client.Code2Session(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			_, err := e.client.Code2Session(context.Background(), c)
			return err
		}, code: 40163, class: wechat.Permanent, reason: "invalid_code"},
		{name: "login empty code", call: login(func(*testing.T, *env) string { return "" }), code: 41008, class: wechat.Permanent, reason: "invalid_code"},
		{name: "login high-risk user", call: login(func(t *testing.T, e *env) string { c, _ := e.sb.Login("", "", true); return c }), code: 40226, class: wechat.Permanent, reason: "user_blocked"},
		{name: "login minute quota", cfg: script(sandbox.EndpointCode2Session, 45011), call: login(freshCode), code: 45011, class: wechat.RateLimited, reason: "minute_quota", minWait: time.Minute},
		{name: "login busy", cfg: faults(sandbox.Faults{BusyRate: 1}), call: login(freshCode), code: -1, class: wechat.Transient, reason: "busy", minWait: time.Second},
		{name: "login wrong secret", call: func(t *testing.T, e *env) error {
			_, err := e.newClient(t, func(c *wechat.Config) { c.AppSecret = "wrong" }).Code2Session(context.Background(), freshCode(t, e))
			return err
		}, code: 40125, class: wechat.Permanent, reason: "invalid_secret"},

		// 2. the access token
		{name: "token ok", call: token, class: wechat.Delivered, reason: "ok"},
		{name: "token wrong secret", call: func(t *testing.T, e *env) error {
			_, err := e.newClient(t, func(c *wechat.Config) { c.AppSecret = "wrong" }).StableToken(context.Background(), false)
			return err
		}, code: 40125, class: wechat.Permanent, reason: "invalid_secret"},
		{name: "token 40001 means bad secret here", cfg: script(sandbox.EndpointStableToken, 40001), call: token, code: 40001, class: wechat.Permanent, reason: "invalid_secret"},
		{name: "token wrong appid", call: func(t *testing.T, e *env) error {
			_, err := e.newClient(t, func(c *wechat.Config) { c.AppID = "wx-not-ours" }).StableToken(context.Background(), false)
			return err
		}, code: 40013, class: wechat.Permanent, reason: "invalid_appid"},
		{name: "token ip not whitelisted", cfg: faults(sandbox.Faults{IPWhitelist: []string{"192.0.2.7"}}), call: token, code: 40164, class: wechat.Permanent, reason: "ip_not_whitelisted", errmsgIn: "127.0.0.1"},
		{name: "token secret frozen", cfg: faults(sandbox.Faults{SecretFrozen: true}), call: token, code: 40243, class: wechat.Permanent, reason: "secret_frozen"},
		{name: "token daily quota", cfg: func(c *sandbox.Config) { c.Quotas.StableTokenPerDay = 1 }, call: func(t *testing.T, e *env) error {
			_ = token(t, e)
			return token(t, e)
		}, code: 45009, class: wechat.RateLimited, reason: "daily_quota", minWait: time.Hour},
		{name: "token minute quota", cfg: func(c *sandbox.Config) { c.Quotas.StableTokenPerMinute = 1 }, call: func(t *testing.T, e *env) error {
			_ = token(t, e)
			return token(t, e)
		}, code: 45011, class: wechat.RateLimited, reason: "minute_quota", minWait: time.Minute},
		{name: "token busy", cfg: script(sandbox.EndpointStableToken, -1), call: token, code: -1, class: wechat.Transient, reason: "busy"},

		// 3. subscribeMessage.send
		{name: "send ok", call: send(nil), class: wechat.Delivered, reason: "ok"},
		{name: "send no grant", call: send(func(e *env, tok string, m *wechat.Message) string {
			_, m.ToUser = e.sb.Login("", "", false)
			return tok
		}), code: 43101, class: wechat.NoGrant, reason: "no_grant"},
		{name: "send unknown openid", call: send(func(_ *env, tok string, m *wechat.Message) string {
			m.ToUser = "oNotAUserOfThisApp000000000"
			return tok
		}), code: 40003, class: wechat.Permanent, reason: "invalid_openid"},
		{name: "send empty openid", call: send(func(_ *env, tok string, m *wechat.Message) string { m.ToUser = ""; return tok }), code: 40003, class: wechat.Permanent, reason: "invalid_openid"},
		{name: "send unknown template", call: send(func(_ *env, tok string, m *wechat.Message) string { m.TemplateID = "nope"; return tok }), code: 40037, class: wechat.Permanent, reason: "invalid_template"},
		{name: "send invalid value", call: send(func(_ *env, tok string, m *wechat.Message) string {
			m.Data["thing1"] = wechat.Value{Value: strings.Repeat("面", 21)}
			return tok
		}), code: 47003, class: wechat.Permanent, reason: "invalid_data", errmsgIn: "argument invalid! data.thing1.value invalid"},
		{name: "send missing keyword", call: send(func(_ *env, tok string, m *wechat.Message) string { delete(m.Data, "time3"); return tok }), code: 47003, class: wechat.Permanent, reason: "invalid_data", errmsgIn: "data.time3.value"},
		{name: "send page not released", call: send(func(_ *env, tok string, m *wechat.Message) string { m.Page = "pages/nowhere?id=1"; return tok }), code: 41030, class: wechat.Permanent, reason: "invalid_page"},
		{name: "send wrong appid", cfg: script(sandbox.EndpointSend, 40013), call: send(nil), code: 40013, class: wechat.Permanent, reason: "invalid_appid"},
		{name: "send api unauthorised", cfg: faults(sandbox.Faults{Unauthorized: []string{sandbox.EndpointSend}}), call: send(nil), code: 48001, class: wechat.Permanent, reason: "api_unauthorized"},
		{name: "send retired token", call: send(func(e *env, tok string, _ *wechat.Message) string { e.sb.RetireTokens(); return tok }), code: 40001, class: wechat.TokenProblem, reason: "token_invalid"},
		{name: "send unknown token", call: send(func(_ *env, _ string, _ *wechat.Message) string { return strings.Repeat("x", 100) }), code: 40001, class: wechat.TokenProblem, reason: "token_invalid"},
		{name: "send malformed token", call: send(func(_ *env, _ string, _ *wechat.Message) string { return "short!" }), code: 40014, class: wechat.TokenProblem, reason: "token_invalid"},
		{name: "send expired token", call: send(func(e *env, tok string, _ *wechat.Message) string { e.clock.Advance(7201 * time.Second); return tok }), code: 42001, class: wechat.TokenProblem, reason: "token_expired"},
		{name: "send missing token", call: send(func(*env, string, *wechat.Message) string { return "" }), code: 41001, class: wechat.TokenProblem, reason: "token_missing"},
		{name: "send minute quota", cfg: faults(sandbox.Faults{RateLimitRate: 1, Endpoints: []string{sandbox.EndpointSend}}), call: send(nil), code: 45011, class: wechat.RateLimited, reason: "minute_quota", minWait: time.Minute},
		{name: "send daily quota", cfg: func(c *sandbox.Config) { c.Quotas.SendPerDay = 1 }, call: func(t *testing.T, e *env) error {
			if err := send(nil)(t, e); err != nil {
				t.Fatal(err)
			}
			return send(nil)(t, e)
		}, code: 45009, class: wechat.RateLimited, reason: "daily_quota", minWait: time.Hour},
		{name: "send busy", cfg: faults(sandbox.Faults{BusyRate: 1, Endpoints: []string{sandbox.EndpointSend}}), call: send(nil), code: -1, class: wechat.Transient, reason: "busy"},
		// Neither is in the send reference; WeChat answers them all the same
		// (the sandbox plays them only when scripted).
		{name: "send concurrent to the same openid", cfg: script(sandbox.EndpointSend, 43108), call: send(nil), code: 43108, class: wechat.Transient, reason: "same_openid_busy",
			minWait: time.Second, maxWait: 2 * time.Second, errmsgIn: "Cannot make concurrent calls to the same OpenID"},
		{name: "send openid of another appid", cfg: script(sandbox.EndpointSend, 43104), call: send(nil), code: 43104, class: wechat.Permanent, reason: "appid_openid_mismatch"},

		// 4. the order shipping service
		{name: "upload ok", call: upload(sandbox.NewOrder{}, nil), class: wechat.Delivered, reason: "ok"},
		{name: "upload of a payment not filed yet", call: upload(sandbox.NewOrder{HiddenFor: sandbox.Duration(time.Minute)}, nil),
			code: 10060001, class: wechat.RateLimited, reason: "payment_not_found", minWait: time.Minute},
		{name: "upload identical to the one recorded", call: upload(sandbox.NewOrder{}, func(t *testing.T, e *env, _ sandbox.Order, info *wechat.ShippingInfo) {
			e.mustUpload(t, *info)
		}), code: 10060023, class: wechat.Permanent, reason: wechat.ReasonAlreadyDone},
		{name: "upload of a second change", call: upload(sandbox.NewOrder{}, func(t *testing.T, e *env, o sandbox.Order, info *wechat.ShippingInfo) {
			e.mustUpload(t, *info)
			e.mustUpload(t, expressInfo(o, "YT2", info.UploadTime.Add(time.Minute)))
			*info = expressInfo(o, "YT3", info.UploadTime.Add(2*time.Minute))
		}), code: 10060003, class: wechat.Permanent, reason: wechat.ReasonAlreadyDone},
		{name: "upload continuing a finished split delivery", call: upload(sandbox.NewOrder{}, func(t *testing.T, e *env, _ sandbox.Order, info *wechat.ShippingInfo) {
			info.DeliveryMode, info.AllDelivered = wechat.DeliverySplit, true
			e.mustUpload(t, *info)
			info.AllDelivered, info.UploadTime = false, info.UploadTime.Add(time.Minute)
			info.Packages = []wechat.Package{{TrackingNo: "YT9", ExpressCompany: "YTO", ItemDesc: "面"}}
		}), code: 10060002, class: wechat.Permanent, reason: wechat.ReasonAlreadyDone},
		{name: "upload after the buyer confirmed", call: upload(sandbox.NewOrder{}, func(t *testing.T, e *env, o sandbox.Order, info *wechat.ShippingInfo) {
			e.mustUpload(t, *info)
			if _, err := e.primary(t).ConfirmReceipt(o.OrderKey); err != nil {
				t.Fatal(err)
			}
			*info = expressInfo(o, "YT2", info.UploadTime.Add(time.Minute))
		}), code: 10060004, class: wechat.Permanent, reason: "order_state"},
		{name: "upload naming another payer", call: upload(sandbox.NewOrder{}, func(_ *testing.T, _ *env, _ sandbox.Order, info *wechat.ShippingInfo) {
			info.PayerOpenID = "o-someone-else"
		}), code: 10060031, class: wechat.Permanent, reason: "payer_mismatch"},
		{name: "upload of two parcels unified", call: upload(sandbox.NewOrder{}, func(_ *testing.T, _ *env, _ sandbox.Order, info *wechat.ShippingInfo) {
			info.Packages = append(info.Packages, info.Packages[0])
		}), code: 268485228, class: wechat.Permanent, reason: "invalid_request"},
		{name: "upload express without a tracking number", call: upload(sandbox.NewOrder{}, func(_ *testing.T, _ *env, _ sandbox.Order, info *wechat.ShippingInfo) {
			info.Packages[0].TrackingNo = ""
		}), code: 268485226, class: wechat.Permanent, reason: "invalid_request"},
		{name: "upload system error", cfg: script(sandbox.EndpointUploadShipping, 10060012), call: upload(sandbox.NewOrder{}, nil),
			code: 10060012, class: wechat.Transient, reason: "busy", minWait: time.Second},
		{name: "upload busy", cfg: script(sandbox.EndpointUploadShipping, -1), call: upload(sandbox.NewOrder{}, nil), code: -1, class: wechat.Transient, reason: "busy"},
		{name: "upload with an expired token", call: func(t *testing.T, e *env) error {
			o := e.paid(t, sandbox.NewOrder{})
			tok := e.token(t)
			e.clock.Advance(7201 * time.Second)
			return e.client.UploadShippingInfo(context.Background(), tok, expressInfo(o, "YT1", e.clock.Now()))
		}, code: 42001, class: wechat.TokenProblem, reason: "token_expired"},
		{name: "upload api unauthorised", cfg: faults(sandbox.Faults{Unauthorized: []string{sandbox.EndpointUploadShipping}}), call: upload(sandbox.NewOrder{}, nil),
			code: 48001, class: wechat.Permanent, reason: "api_unauthorized"},
		{name: "remind ok", call: remind(sandbox.NewOrder{}, nil), class: wechat.Delivered, reason: "ok"},
		{name: "remind twice", call: func(t *testing.T, e *env) error {
			o := e.paid(t, sandbox.NewOrder{})
			e.mustUpload(t, expressInfo(o, "YT1", e.clock.Now()))
			e.clock.Advance(time.Hour)
			at := e.clock.Now().Add(-time.Minute)
			if err := e.client.NotifyConfirmReceive(context.Background(), e.token(t), wechat.ByTransaction(o.TransactionID), at); err != nil {
				t.Fatal(err)
			}
			return e.client.NotifyConfirmReceive(context.Background(), e.token(t), wechat.ByTransaction(o.TransactionID), at)
		}, code: 10060030, class: wechat.Permanent, reason: wechat.ReasonAlreadyDone},
		{name: "remind signed before shipping", call: remind(sandbox.NewOrder{}, func(_ *testing.T, _ *env, _ sandbox.Order, info *wechat.ShippingInfo, received *time.Time) {
			*received = info.UploadTime.Add(-time.Hour)
		}), code: 10060029, class: wechat.Permanent, reason: "invalid_received_time", errmsgIn: "签收时间"},
		{name: "remind of an unshipped order", call: remind(sandbox.NewOrder{}, func(_ *testing.T, _ *env, _ sandbox.Order, info *wechat.ShippingInfo, _ *time.Time) {
			info.Order = wechat.OrderKey{} // not uploaded
		}), code: 10060028, class: wechat.Permanent, reason: "order_state"},
		{name: "remind of a pickup order", call: remind(sandbox.NewOrder{}, func(_ *testing.T, _ *env, _ sandbox.Order, info *wechat.ShippingInfo, _ *time.Time) {
			info.LogisticsType, info.Packages = wechat.LogisticsPickup, []wechat.Package{{ItemDesc: "面"}}
		}), code: 10060032, class: wechat.Permanent, reason: "not_express"},
		{name: "get_order ok", call: getOrder(sandbox.NewOrder{}), class: wechat.Delivered, reason: "ok"},
		{name: "get_order of a payment not filed yet", call: getOrder(sandbox.NewOrder{HiddenFor: sandbox.Duration(time.Minute)}),
			code: 10060001, class: wechat.RateLimited, reason: "payment_not_found", minWait: time.Minute},
		{name: "get_order busy", cfg: faults(sandbox.Faults{BusyRate: 1, Endpoints: []string{sandbox.EndpointGetOrder}}), call: getOrder(sandbox.NewOrder{}),
			code: -1, class: wechat.Transient, reason: "busy"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			var mods []func(*sandbox.Config)
			if r.cfg != nil {
				mods = append(mods, r.cfg)
			}
			e := setup(t, mods...)
			err := r.call(t, e)
			if got := wechat.ErrCode(err); got != r.code {
				t.Fatalf("errcode %d (err %v); want %d", got, err, r.code)
			}
			out := wechat.Classify(err)
			if out.Class != r.class || out.Reason != r.reason || out.Code != r.code {
				t.Fatalf("Classify = %s/%s/%d; want %s/%s/%d", out.Class, out.Reason, out.Code, r.class, r.reason, r.code)
			}
			if out.Wait < r.minWait || r.maxWait > 0 && out.Wait > r.maxWait {
				t.Fatalf("wait %s; want at least %s and at most %s", out.Wait, r.minWait, r.maxWait)
			}
			if out.Ambiguous {
				t.Fatal("a WeChat answer is never ambiguous")
			}
			if r.errmsgIn != "" && !strings.Contains(err.Error(), r.errmsgIn) {
				t.Fatalf("error %q does not contain %q", err, r.errmsgIn)
			}
			if err != nil && !strings.Contains(err.Error(), "rid: ") {
				t.Fatalf("errmsg %q lacks WeChat's request id", err)
			}
		})
	}
}

// Failures without a WeChat answer: all transient, and marked ambiguous when
// WeChat may have acted on the request.
func TestTransportFailuresAreTransient(t *testing.T) {
	t.Parallel()
	hurry := func(c *wechat.Config) { c.Timeout = 100 * time.Millisecond }
	type row struct {
		name      string
		faults    sandbox.Faults
		client    func(*wechat.Config)
		reason    string
		ambiguous bool
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, r := range []row{
		{name: "HTTP 500", faults: sandbox.Faults{HTTP500Rate: 1, Endpoints: []string{sandbox.EndpointSend}}, reason: "http_5xx", ambiguous: true},
		{name: "HTTP 502 scripted", faults: sandbox.Faults{Script: []sandbox.Scripted{{Endpoint: sandbox.EndpointSend, Status: 502}}}, reason: "http_5xx", ambiguous: true},
		{name: "hang past the timeout", faults: sandbox.Faults{HangRate: 1, Endpoints: []string{sandbox.EndpointSend}}, client: hurry, reason: "timeout", ambiguous: true},
		{name: "reply lost after delivery", faults: sandbox.Faults{LostReplyRate: 1, Endpoints: []string{sandbox.EndpointSend}}, client: hurry, reason: "timeout", ambiguous: true},
		{name: "empty body", faults: sandbox.Faults{LostReplyRate: 1, HangFor: sandbox.Duration(time.Millisecond), Endpoints: []string{sandbox.EndpointSend}}, reason: "malformed_response", ambiguous: true},
		{name: "connection refused", client: func(c *wechat.Config) { c.BaseURL = closed.URL }, reason: "connection", ambiguous: false},
	} {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			m := e.orderMessage(e.subscriber(t))
			tok := e.token(t)
			if err := e.sb.SetFaults(r.faults); err != nil {
				t.Fatal(err)
			}
			c := e.newClient(t, r.client)
			_, err := c.SendSubscribe(context.Background(), tok, m)
			out := wechat.Classify(err)
			if out.Class != wechat.Transient || out.Reason != r.reason || out.Ambiguous != r.ambiguous {
				t.Fatalf("Classify(%v) = %+v; want transient/%s ambiguous=%v", err, out, r.reason, r.ambiguous)
			}
		})
	}
}

func TestClassifyWithoutWeChat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err   error
		class wechat.Class
		wait  time.Duration
		rsn   string
	}{
		{nil, wechat.Delivered, 0, "ok"},
		{&wechat.HTTPError{Endpoint: wechat.EndpointSend, Status: 503}, wechat.Transient, 0, "http_5xx"},
		{&wechat.HTTPError{Endpoint: wechat.EndpointSend, Status: 429}, wechat.RateLimited, time.Minute, "http_429"},
		{&wechat.HTTPError{Endpoint: wechat.EndpointSend, Status: 404}, wechat.Permanent, 0, "http_status"},
		{&wechat.Error{Endpoint: wechat.EndpointToken, Code: 40001}, wechat.Permanent, 0, "invalid_secret"},
		{&wechat.Error{Endpoint: wechat.EndpointSend, Code: 45015}, wechat.RateLimited, time.Minute, "rate_limited"},
		{&wechat.Error{Endpoint: wechat.EndpointSend, Code: 47001}, wechat.Permanent, 0, "unknown_errcode"},
		{fmt.Errorf("wrapped: %w", &wechat.Error{Endpoint: wechat.EndpointSend, Code: 43101}), wechat.NoGrant, 0, "no_grant"},
		{fmt.Errorf("get token: %w", context.DeadlineExceeded), wechat.Transient, 0, "timeout"},
		{context.Canceled, wechat.Transient, 0, "canceled"},
		{errors.New("something else"), wechat.Transient, 0, "unknown_error"},
	} {
		out := wechat.Classify(tc.err)
		if out.Class != tc.class || out.Wait != tc.wait || out.Reason != tc.rsn {
			t.Errorf("Classify(%v) = %+v; want %s/%s wait %s", tc.err, out, tc.class, tc.rsn, tc.wait)
		}
	}
}
