package wechat

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Class says what a caller should do with an outcome.
type Class int

const (
	// Delivered: the call succeeded (for a send, the message reached the user).
	Delivered Class = iota
	// NoGrant: 43101, the user has no subscription left for the template. A
	// normal outcome, not a failure: record it and zero the grant.
	NoGrant
	// TokenProblem: the access_token is invalid, expired or missing. Drop the
	// cached token only if it is still the one that failed, fetch, retry once.
	TokenProblem
	// RateLimited: WeChat says to wait — a quota, or a payment the shipping
	// service has not filed yet (10060001); retry after Outcome.Wait at the
	// earliest. A wait, not a failure: nothing is wrong with the request.
	RateLimited
	// Transient: may succeed later; retry with back-off.
	Transient
	// Permanent: will fail the same way every time; do not retry.
	Permanent
)

var classNames = [...]string{"delivered", "no_grant", "token", "rate_limited", "transient", "permanent"}

// String is the class's stable name, used in logs and metric labels.
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return "unknown"
	}
	return classNames[c]
}

// Outcome is what Classify makes of a call's result.
type Outcome struct {
	Class Class
	// Reason is a stable snake_case word for logs, metrics and API errors
	// ("invalid_code", "user_blocked", "busy", "timeout", …).
	Reason string
	// Code is WeChat's errcode, 0 when there was no WeChat answer.
	Code int
	// Wait is the least time to wait before trying again (RateLimited,
	// Transient); 0 means back-off alone decides.
	Wait time.Duration
	// Ambiguous reports that WeChat may have acted on the request although
	// no success came back (timeout, lost connection, 5xx, garbled answer):
	// a send may have been delivered and its grant spent.
	Ambiguous bool
}

// Waits the reference prescribes.
const (
	MinuteQuotaWait = 60 * time.Second // 45011: wait at least a minute
	DailyQuotaWait  = time.Hour        // 45009: defer by hours; retrying hourly finds the reset without looping
	BusyWait        = time.Second      // -1: bursts clear after about a second
	// SameOpenIDWait is for 43108: another send to the same user was in
	// flight at WeChat, which refuses concurrent sends to one openid; that
	// send ends within about a second.
	SameOpenIDWait = time.Second
	// PaymentFilingWait is for 10060001 from the shipping APIs: WeChat files
	// a payment up to a minute after it was paid, and asks to try again
	// after that minute.
	PaymentFilingWait = time.Minute
)

// ReasonAlreadyDone is the Reason of the shipping APIs' refusals that say
// the call's effect is already there, or cannot be repeated: the shipping
// info uploaded is the one recorded (10060023), completed shipping was
// already changed once (10060003) or cannot be continued (10060002), the
// receipt reminder was already sent (10060030). Permanent — retrying
// cannot help — but, unlike other permanent refusals, after an ambiguous
// attempt it usually means that attempt succeeded.
const ReasonAlreadyDone = "already_done"

type rule struct {
	class  Class
	reason string
	wait   time.Duration
}

// common holds the errcodes that mean the same on every endpoint.
var common = map[int]rule{
	-1:    {Transient, "busy", BusyWait},
	45011: {RateLimited, "minute_quota", MinuteQuotaWait},
	45009: {RateLimited, "daily_quota", DailyQuotaWait},
	40013: {Permanent, "invalid_appid", 0},
	48001: {Permanent, "api_unauthorized", 0},
	40125: {Permanent, "invalid_secret", 0},
	40164: {Permanent, "ip_not_whitelisted", 0},
	40243: {Permanent, "secret_frozen", 0},
}

// byEndpoint holds the errcodes whose meaning depends on the endpoint; 40001
// is a bad secret when fetching a token and a bad token when sending.
var byEndpoint = map[string]map[int]rule{
	EndpointCode2Session: {
		40029: {Permanent, "invalid_code", 0},
		40163: {Permanent, "invalid_code", 0}, // "code been used"
		41008: {Permanent, "invalid_code", 0}, // missing code
		40226: {Permanent, "user_blocked", 0},
		40001: {Permanent, "invalid_secret", 0},
	},
	EndpointStableToken: {
		40001: {Permanent, "invalid_secret", 0},
	},
	EndpointToken: {
		40001: {Permanent, "invalid_secret", 0},
	},
	EndpointSend: with(tokenRules, map[int]rule{
		43101: {NoGrant, "no_grant", 0},
		40003: {Permanent, "invalid_openid", 0},
		40037: {Permanent, "invalid_template", 0},
		47003: {Permanent, "invalid_data", 0},
		41030: {Permanent, "invalid_page", 0},
		// 43108 refuses the call outright ("Cannot make concurrent calls to
		// the same OpenID"): nothing was sent, so it is not ambiguous, and
		// the send it collided with is over in about a second.
		43108: {Transient, "same_openid_busy", SameOpenIDWait},
		// 43104: the openid is not one of this appid's users (taken from
		// another mini program): the same every time.
		43104: {Permanent, "appid_openid_mismatch", 0},
	}),
	EndpointUploadShipping:       with(tokenRules, shippingRules),
	EndpointNotifyConfirmReceive: with(tokenRules, shippingRules),
	EndpointGetOrder:             with(tokenRules, shippingRules),
}

// tokenRules are the access_token refusals of the APIs that take one.
var tokenRules = map[int]rule{
	40001: {TokenProblem, "token_invalid", 0},
	40014: {TokenProblem, "token_invalid", 0},
	42001: {TokenProblem, "token_expired", 0},
	// 41001 is a token problem once; the caller treats a repeat as permanent.
	41001: {TokenProblem, "token_missing", 0},
}

// shippingRules are the order shipping service's errcodes; its three APIs
// share one table in WeChat's reference.
var shippingRules = map[int]rule{
	// Not filed yet, or not there at all: WeChat asks to try again after a
	// minute. A wait like a quota's (RateLimited), so that the minutes a
	// fresh payment takes to appear spend no retry; a caller that keeps
	// getting it long after the payment has the wrong payment.
	10060001:  {RateLimited, "payment_not_found", PaymentFilingWait},
	10060012:  {Transient, "busy", BusyWait}, // "系统错误": try again shortly
	10060019:  {Transient, "busy", BusyWait},
	10060002:  {Permanent, ReasonAlreadyDone, 0},
	10060003:  {Permanent, ReasonAlreadyDone, 0},
	10060023:  {Permanent, ReasonAlreadyDone, 0},
	10060030:  {Permanent, ReasonAlreadyDone, 0},
	10060004:  {Permanent, "order_state", 0}, // confirmed, settled or refunded: shipping is final
	10060028:  {Permanent, "order_state", 0}, // a reminder for an order not (or no longer) shipped
	10060029:  {Permanent, "invalid_received_time", 0},
	10060031:  {Permanent, "payer_mismatch", 0},
	10060032:  {Permanent, "not_express", 0},
	47001:     {Permanent, "invalid_request", 0},
	10060005:  {Permanent, "invalid_request", 0},
	10060006:  {Permanent, "invalid_request", 0},
	10060007:  {Permanent, "invalid_request", 0},
	10060008:  {Permanent, "invalid_request", 0},
	10060009:  {Permanent, "invalid_request", 0},
	10060014:  {Permanent, "invalid_request", 0},
	10060020:  {Permanent, "invalid_request", 0},
	10060024:  {Permanent, "invalid_request", 0},
	10060025:  {Permanent, "invalid_request", 0},
	10060026:  {Permanent, "invalid_request", 0},
	268485194: {Permanent, "invalid_request", 0},
	268485195: {Permanent, "invalid_request", 0},
	268485196: {Permanent, "invalid_request", 0},
	268485197: {Permanent, "invalid_request", 0},
	268485216: {Permanent, "invalid_request", 0},
	268485224: {Permanent, "invalid_request", 0},
	268485226: {Permanent, "invalid_request", 0},
	268485227: {Permanent, "invalid_request", 0},
	268485228: {Permanent, "invalid_request", 0},
}

// with is the rules of all the tables, the later ones winning.
func with(tables ...map[int]rule) map[int]rule {
	out := map[int]rule{}
	for _, t := range tables {
		for code, r := range t {
			out[code] = r
		}
	}
	return out
}

// Classify turns the error of any Client call (nil included) into what the
// caller should do about it.
func Classify(err error) Outcome {
	if err == nil {
		return Outcome{Class: Delivered, Reason: "ok"}
	}
	var we *Error
	if errors.As(err, &we) {
		return classifyCode(we.Endpoint, we.Code)
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.Status >= 500:
			return Outcome{Class: Transient, Reason: "http_5xx", Ambiguous: true}
		case he.Status == http.StatusTooManyRequests:
			return Outcome{Class: RateLimited, Reason: "http_429", Wait: MinuteQuotaWait}
		default:
			// A 3xx/4xx from WeChat's host means a wrong base URL or a proxy
			// refusing us: configuration, not something time fixes.
			return Outcome{Class: Permanent, Reason: "http_status"}
		}
	}
	var me *MalformedError
	if errors.As(err, &me) {
		return Outcome{Class: Transient, Reason: "malformed_response", Ambiguous: true}
	}
	var ne *NetError
	if errors.As(err, &ne) {
		reason := "connection"
		switch {
		case ne.Timeout():
			reason = "timeout"
		case errors.Is(ne.Err, context.Canceled):
			reason = "canceled"
		}
		return Outcome{Class: Transient, Reason: reason, Ambiguous: ne.MayHaveArrived()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Outcome{Class: Transient, Reason: "timeout", Ambiguous: true}
	}
	if errors.Is(err, context.Canceled) {
		return Outcome{Class: Transient, Reason: "canceled", Ambiguous: true}
	}
	// Not from this package: retrying is the choice that loses nothing.
	return Outcome{Class: Transient, Reason: "unknown_error", Ambiguous: true}
}

func classifyCode(endpoint string, code int) Outcome {
	r, ok := byEndpoint[endpoint][code]
	if !ok {
		r, ok = common[code]
	}
	if !ok {
		switch {
		case code >= 45000 && code < 46000:
			// 45xxx are WeChat's frequency limits: treat an unlisted one like 45011.
			r = rule{RateLimited, "rate_limited", MinuteQuotaWait}
		default:
			// Unlisted codes are, in WeChat's numbering, request or permission
			// errors that repeat identically: archive them (visible, and
			// re-runnable from the dashboard) rather than retry for a day.
			r = rule{Permanent, "unknown_errcode", 0}
		}
	}
	return Outcome{Class: r.class, Reason: r.reason, Code: code, Wait: r.wait}
}
