package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Endpoint names, as wechat.Client uses them; they key call counts and faults.
const (
	EndpointCode2Session = "jscode2session"
	EndpointStableToken  = "stable_token"
	EndpointToken        = "token"
	EndpointSend         = "subscribe_send"

	// The order shipping service's.
	EndpointUploadShipping       = "upload_shipping_info"
	EndpointNotifyConfirmReceive = "notify_confirm_receive"
	EndpointGetOrder             = "get_order"
)

// reply is one WeChat answer: an errcode with its message, or a success body.
type reply struct {
	code int
	msg  string
	ok   any
}

func fail(code int, msg string) reply { return reply{code: code, msg: msg} }

func success(body any) reply { return reply{ok: body} }

// WeChat's errmsg wordings for the codes the sandbox produces.
var errmsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40003: "invalid openid",
	40013: "invalid appid",
	40014: "invalid access_token",
	40029: "invalid code",
	40037: "invalid template_id",
	40125: "invalid appsecret",
	40163: "code been used",
	40164: "invalid ip, not in whitelist",
	40226: "invalid user, risky user forbidden to login",
	40243: "AppSecret is frozen, unfreeze it on the mini program admin platform",
	41001: "access_token missing",
	41008: "missing code",
	41030: "invalid page",
	42001: "access_token expired",
	43101: "user refuse to accept the msg",
	43104: "this appid does not have permission",
	43108: "Cannot make concurrent calls to the same OpenID, please try again",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit  mustslower  retry next minute",
	47001: "data format error",
	47003: "argument invalid!",
	48001: "api unauthorized",

	// The order shipping service's, as its reference words them, or as
	// WeChat was seen to answer where that differs (10060029).
	10060001:  "支付单不存在",
	10060002:  "支付单已完成发货，无法继续发货",
	10060003:  "支付单已使用重新发货机会",
	10060004:  "支付单处于不可发货的状态",
	10060005:  "物流类型有误",
	10060006:  "非快递发货时不允许分拆发货",
	10060007:  "分拆发货模式下必须填写 is_all_delivered 字段",
	10060008:  "商品描述 item_desc 字段不能为空",
	10060009:  "商品描述 item_desc 字段太长",
	10060014:  "参数错误",
	10060023:  "发货信息未更新",
	10060024:  "物流信息列表太长",
	10060025:  "物流公司编码太长",
	10060026:  "物流单号太长",
	10060028:  "支付单不是已发货状态",
	10060029:  "签收时间不合理",
	10060030:  "支付单已使用提醒收货机会",
	10060031:  "该笔支付单不属于 openid 所指定的用户",
	10060032:  "只有物流快递发货时允许提醒用户确认收货",
	268485194: "订单单号类型非法",
	268485195: "微信支付单号形式下 transaction_id 字段不能为空",
	268485196: "商户侧单号形式下 mchid 字段不能为空",
	268485197: "商户侧单号形式下 out_trade_no 字段不能为空",
	268485216: "上传时间非法，请按照 RFC 3339 格式填写",
	268485224: "发货模式非法",
	268485226: "物流单号不能为空",
	268485227: "物流公司编码不能为空",
	268485228: "统一发货模式下，物流信息列表长度必须为 1",
}

func failCode(code int) reply { return fail(code, errmsgs[code]) }

// write sends r the way WeChat does: HTTP 200 always, errors as
// {"errcode","errmsg"} with a request id appended to errmsg, and the
// Content-Type WeChat uses (jscode2session answers text/plain).
func (s *Sandbox) write(w http.ResponseWriter, endpoint string, r reply) {
	ct := "application/json; encoding=utf-8"
	if endpoint == EndpointCode2Session {
		ct = "text/plain"
	}
	w.Header().Set("Content-Type", ct)
	var body any = r.ok
	if r.code != 0 {
		body = struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}{r.code, fmt.Sprintf("%s rid: %s", r.msg, s.rid())}
	}
	b, _ := json.Marshal(body)
	_, _ = w.Write(b)
}

// rid is a request id shaped like WeChat's ("6478e2c6-30c0d3a3-5cc4d5e6").
func (s *Sandbox) rid() string {
	s.mu.Lock()
	a, b, c := s.rng.Uint32(), s.rng.Uint32(), s.rng.Uint32()
	s.mu.Unlock()
	return fmt.Sprintf("%08x-%08x-%08x", a, b, c)
}

// writeControl answers a /sandbox/ control call with JSON.
func writeControl(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func controlError(w http.ResponseWriter, status int, format string, args ...any) {
	writeControl(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// Duration is a time.Duration written in JSON as a Go duration string ("250ms").
type Duration time.Duration

// MarshalJSON writes the duration as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts "1.5s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"250ms\", got %s", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}
