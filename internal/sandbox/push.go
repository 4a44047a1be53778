package sandbox

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"wxnotify/internal/wxevent"
)

// Push configures the message pushes the sandbox sends, as WeChat would, to
// the mini program's server: a popup event when a user accepts or rejects,
// a change event when one unsubscribes in settings, a sent event after each
// delivery.
type Push struct {
	// URL receives the pushes (the API's /v1/wx/events); none are sent when empty.
	URL   string
	Token string
	// AESKey, the 43-character EncodingAESKey, turns on safe mode.
	AESKey string
	// XML sends XML bodies instead of JSON.
	XML bool
	// Client sends the pushes; nil means a plain client with WeChat's 5 s
	// patience. Tests pass one that checks the answers.
	Client *http.Client
}

type pushState struct {
	cfg      Push
	verifier *wxevent.Verifier
	client   *http.Client
	last     map[string]int64 // openid → last CreateTime, kept strictly increasing
}

// SetPush starts (or, with an empty URL, stops) the app's pushes: to its
// own URL, signed with its own token, encrypted with its own AES key for
// its appid.
func (p *MiniProgram) SetPush(cfg Push) error {
	var v *wxevent.Verifier
	if cfg.URL != "" {
		var err error
		if v, err = wxevent.NewVerifier(cfg.Token, cfg.AESKey, p.appID); err != nil {
			return fmt.Errorf("sandbox push for %s: %w", p.appID, err)
		}
	}
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	p.push = pushState{cfg: cfg, verifier: v, client: client, last: map[string]int64{}}
	return nil
}

// pushItem is one List entry, in the shape both JSON and XML use. MsgID
// and ErrorCode are strings in both, as in WeChat's documented JSON example
// ("MsgID": "1864323726461255680", "ErrorCode": "0"): a receiver reading
// them as numbers — JavaScript's JSON.parse, a float64 — loses the
// msgid's last digits.
type pushItem struct {
	TemplateId            string `json:"TemplateId" xml:"TemplateId"`
	SubscribeStatusString string `json:"SubscribeStatusString,omitempty" xml:"SubscribeStatusString,omitempty"`
	PopupScene            string `json:"PopupScene,omitempty" xml:"PopupScene,omitempty"`
	MsgID                 string `json:"MsgID,omitempty" xml:"MsgID,omitempty"`
	ErrorCode             string `json:"ErrorCode,omitempty" xml:"ErrorCode,omitempty"`
	ErrorStatus           string `json:"ErrorStatus,omitempty" xml:"ErrorStatus,omitempty"`
}

// tradeEvent is a push of the order shipping service. Unlike the
// subscription pushes it has no List: its fields sit at the top level, in
// JSON and in XML alike, and a push carries only those its occasion fills.
type tradeEvent struct {
	TransactionID   string `json:"transaction_id,omitempty" xml:"transaction_id,omitempty"`
	MerchantID      string `json:"merchant_id,omitempty" xml:"merchant_id,omitempty"`
	SubMerchantID   string `json:"sub_merchant_id,omitempty" xml:"sub_merchant_id,omitempty"`
	MerchantTradeNo string `json:"merchant_trade_no,omitempty" xml:"merchant_trade_no,omitempty"`
	PayTime         int64  `json:"pay_time,omitempty" xml:"pay_time,omitempty"`
	Msg             string `json:"msg,omitempty" xml:"msg,omitempty"`
	// ShippedTime is in every settlement push; EstimatedSettlementTime only
	// in the one sent when shipping completes; the confirmation and
	// settlement fields only in the one sent when the funds settle.
	ShippedTime             int64 `json:"shipped_time,omitempty" xml:"shipped_time,omitempty"`
	EstimatedSettlementTime int64 `json:"estimated_settlement_time,omitempty" xml:"estimated_settlement_time,omitempty"`
	ConfirmReceiveMethod    int   `json:"confirm_receive_method,omitempty" xml:"confirm_receive_method,omitempty"`
	ConfirmReceiveTime      int64 `json:"confirm_receive_time,omitempty" xml:"confirm_receive_time,omitempty"`
	SettlementTime          int64 `json:"settlement_time,omitempty" xml:"settlement_time,omitempty"`
}

// pushBody is a push in either form. In XML the List sits in an element
// named for the event; in JSON it is List itself, an object for one item.
// A trade event has its fields at the top level instead.
type pushBody struct {
	XMLName      xml.Name  `json:"-" xml:"xml"`
	ToUserName   string    `json:"ToUserName"`
	FromUserName string    `json:"FromUserName"`
	CreateTime   int64     `json:"CreateTime"`
	MsgType      string    `json:"MsgType"`
	Event        string    `json:"Event"`
	List         *pushItem `json:"List,omitempty" xml:"-"`
	Popup        *xmlList  `json:"-" xml:"SubscribeMsgPopupEvent,omitempty"`
	Change       *xmlList  `json:"-" xml:"SubscribeMsgChangeEvent,omitempty"`
	Sent         *xmlList  `json:"-" xml:"SubscribeMsgSentEvent,omitempty"`
	*tradeEvent
}

type xmlList struct {
	List pushItem
}

// tradeSender is the FromUserName of the order shipping service's pushes:
// WeChat's reference says they come from a system account, not the buyer.
const tradeSender = "o-wechat-trade-manage-system"

// pushLocked queues one subscription push of event about openid to the
// app's server; sb.mu must be held.
func (p *MiniProgram) pushLocked(openid, event string, item pushItem) {
	p.queuePushLocked(openid, pushBody{Event: event, List: &item})
}

// pushTradeLocked queues one push of the order shipping service; sb.mu
// must be held.
func (p *MiniProgram) pushTradeLocked(event string, e tradeEvent) {
	p.queuePushLocked(tradeSender, pushBody{Event: event, tradeEvent: &e})
}

// queuePushLocked sends b from sender to the app's server, if it has one.
func (p *MiniProgram) queuePushLocked(sender string, b pushBody) {
	if p.push.cfg.URL == "" {
		return
	}
	// WeChat's CreateTime is in seconds; keep one sender's strictly
	// increasing so that two pushes in one second are not mistaken for a retry.
	t := max(p.sb.now().Unix(), p.push.last[sender]+1)
	p.push.last[sender] = t
	b.ToUserName, b.FromUserName, b.CreateTime, b.MsgType = "gh_sandbox", sender, t, "event"
	ps := p.push
	body := ps.encode(b)
	p.sb.pushing.Go(func() { p.sb.deliverPush(ps, body) })
}

// WaitPushes returns when no push of any app is in flight (each gives up
// after its retries): a test ends only after the pushes it caused.
func (s *Sandbox) WaitPushes() { s.pushing.Wait() }

func (ps pushState) encode(b pushBody) []byte {
	if !ps.cfg.XML {
		out, _ := json.Marshal(b)
		return out
	}
	if b.List != nil {
		l := &xmlList{List: *b.List}
		switch b.Event {
		case PopupEventName:
			b.Popup = l
		case ChangeEventName:
			b.Change = l
		case SentEventName:
			b.Sent = l
		}
	}
	out, _ := xml.Marshal(b)
	return out
}

// deliverPush posts body as WeChat does — signed, encrypted in safe mode —
// and pushes it again, up to three more times, while the server does not
// acknowledge it.
func (s *Sandbox) deliverPush(ps pushState, body []byte) {
	for attempt := range 4 {
		ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), randomString(6)
		q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wxevent.Sign(ps.cfg.Token, ts, nonce)}}
		payload := body
		if ps.cfg.AESKey != "" {
			enc, err := ps.verifier.Encrypt(body)
			if err != nil {
				s.count("push", "encrypt_failed")
				return
			}
			q.Set("encrypt_type", "aes")
			q.Set("msg_signature", wxevent.Sign(ps.cfg.Token, ts, nonce, enc))
			if ps.cfg.XML {
				payload, _ = xml.Marshal(encryptedBody{ToUserName: "gh_sandbox", Encrypt: enc})
			} else {
				payload, _ = json.Marshal(encryptedBody{ToUserName: "gh_sandbox", Encrypt: enc})
			}
		}
		// WeChat labels every push text/xml, JSON bodies included; receivers
		// must judge the format by the body. The sandbox does the same, so
		// that a receiver trusting the header fails here, not in production.
		resp, err := ps.client.Post(ps.cfg.URL+"?"+q.Encode(), pushContentType, bytes.NewReader(payload))
		if err == nil {
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && acknowledges(answer) {
				s.count("push", "success")
				return
			}
		}
		s.count("push", "retry")
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	s.count("push", "given_up")
}

// pushContentType is the Content-Type of every push, whatever its format.
const pushContentType = "text/xml"

// encryptedBody is a safe-mode push: the ciphertext of the plain one.
type encryptedBody struct {
	XMLName    xml.Name `json:"-" xml:"xml"`
	ToUserName string   `json:"ToUserName"`
	Encrypt    string   `json:"Encrypt"`
}

// acknowledges reports whether a receiver's answer ends the push: WeChat
// takes an empty body or "success"; anything else makes it push again.
func acknowledges(answer []byte) bool {
	return len(answer) == 0 || string(answer) == "success"
}

// Event names of the pushes.
const (
	PopupEventName  = wxevent.PopupEvent
	ChangeEventName = wxevent.ChangeEvent
	SentEventName   = wxevent.SentEvent

	// The order shipping service's: the funds of an order will settle
	// (pushed when shipping completes) or have settled; WeChat reminding the
	// merchant to ship an order; WeChat reminding the mini program to use
	// the shipping APIs at all.
	OrderSettlementEventName = "trade_manage_order_settlement"
	RemindShippingEventName  = "trade_manage_remind_shipping"
	RemindAccessAPIEventName = "trade_manage_remind_access_api"
)
