package wxevent

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strconv"
)

// Params are the query parameters WeChat signs a push with.
type Params struct {
	Signature, Timestamp, Nonce, MsgSignature string
}

// Open checks a push's signature, decrypts it in safe mode, and decodes it.
// A bad signature is ErrSignature; a body that is not a push is ErrBody.
func (v *Verifier) Open(p Params, body []byte) (*Push, error) {
	body = bytes.TrimSpace(body)
	isXML := len(body) > 0 && body[0] == '<'
	encrypt, err := encrypted(body, isXML)
	if err != nil {
		return nil, err
	}
	if encrypt != "" {
		if v.key == nil {
			return nil, fmt.Errorf("%w: encrypted, but no EncodingAESKey is configured", ErrBody)
		}
		if !equal(p.MsgSignature, Sign(v.token, p.Timestamp, p.Nonce, encrypt)) {
			return nil, ErrSignature
		}
		if body, err = v.decrypt(encrypt); err != nil {
			return nil, err
		}
		isXML = len(body) > 0 && body[0] == '<'
	} else if !v.Check(p.Signature, p.Timestamp, p.Nonce) {
		return nil, ErrSignature
	}
	if isXML {
		return decodeXML(body)
	}
	return decodeJSON(body)
}

// encrypted returns the Encrypt field of a safe-mode body ("" in plain mode).
func encrypted(body []byte, isXML bool) (string, error) {
	var e struct {
		Encrypt string `json:"Encrypt" xml:"Encrypt"`
	}
	var err error
	if isXML {
		err = xml.Unmarshal(body, &e)
	} else {
		err = json.Unmarshal(body, &e)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBody, err)
	}
	return e.Encrypt, nil
}

// decodeJSON reads the JSON form: List is one object for one item and an
// array for several; CreateTime is a number; MsgID is a 64-bit number.
func decodeJSON(body []byte) (*Push, error) {
	var raw struct {
		ToUserName, FromUserName, MsgType, Event string
		CreateTime                               json.Number
		List                                     json.RawMessage
		tradeFields
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBody, err)
	}
	p := &Push{ToUserName: raw.ToUserName, FromUserName: raw.FromUserName, MsgType: raw.MsgType, Event: raw.Event, Trade: raw.trade(raw.Event)}
	var err error
	if p.CreateTime, err = raw.CreateTime.Int64(); err != nil && raw.CreateTime != "" {
		return nil, fmt.Errorf("%w: CreateTime %q", ErrBody, raw.CreateTime)
	}
	type item struct {
		TemplateId, SubscribeStatusString, ErrorStatus string
		PopupScene, MsgID, ErrorCode                   json.RawMessage
	}
	var items []item
	if l := bytes.TrimSpace(raw.List); len(l) > 0 && l[0] == '{' {
		var one item
		err = json.Unmarshal(l, &one)
		items = []item{one}
	} else if len(l) > 0 && string(l) != "null" {
		err = json.Unmarshal(l, &items)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: List: %v", ErrBody, err)
	}
	for _, it := range items {
		if p.Event == SentEvent {
			code, _ := strconv.Atoi(scalar(it.ErrorCode))
			p.Results = append(p.Results, Result{TemplateID: it.TemplateId, MsgID: scalar(it.MsgID), ErrorCode: code, ErrorStatus: it.ErrorStatus})
		} else {
			p.Choices = append(p.Choices, Choice{TemplateID: it.TemplateId, Status: it.SubscribeStatusString, PopupScene: scalar(it.PopupScene)})
		}
	}
	return p, nil
}

// scalar reads a JSON number or string as its text, exactly.
func scalar(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(r))
}

// decodeXML reads the XML form, whose items sit under an element named for the event.
func decodeXML(body []byte) (*Push, error) {
	type item struct {
		TemplateId, SubscribeStatusString, PopupScene, MsgID, ErrorStatus string
		ErrorCode                                                         string
	}
	var raw struct {
		ToUserName, FromUserName, MsgType, Event string
		CreateTime                               int64
		tradeFields
		Popup  []item `xml:"SubscribeMsgPopupEvent>List"`
		Change []item `xml:"SubscribeMsgChangeEvent>List"`
		Sent   []item `xml:"SubscribeMsgSentEvent>List"`
	}
	if err := xml.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBody, err)
	}
	p := &Push{ToUserName: raw.ToUserName, FromUserName: raw.FromUserName, CreateTime: raw.CreateTime, MsgType: raw.MsgType, Event: raw.Event, Trade: raw.trade(raw.Event)}
	for _, it := range append(raw.Popup, raw.Change...) {
		p.Choices = append(p.Choices, Choice{TemplateID: it.TemplateId, Status: it.SubscribeStatusString, PopupScene: it.PopupScene})
	}
	for _, it := range raw.Sent {
		code, _ := strconv.Atoi(it.ErrorCode)
		p.Results = append(p.Results, Result{TemplateID: it.TemplateId, MsgID: it.MsgID, ErrorCode: code, ErrorStatus: it.ErrorStatus})
	}
	return p, nil
}

// tradeFields are a trade event's fields, at the top level of its push in
// both forms.
type tradeFields struct {
	TransactionID      string `json:"transaction_id" xml:"transaction_id"`
	MerchantID         string `json:"merchant_id" xml:"merchant_id"`
	MerchantTradeNo    string `json:"merchant_trade_no" xml:"merchant_trade_no"`
	PayTime            int64  `json:"pay_time" xml:"pay_time"`
	ShippedTime        int64  `json:"shipped_time" xml:"shipped_time"`
	ConfirmReceiveTime int64  `json:"confirm_receive_time" xml:"confirm_receive_time"`
	SettlementTime     int64  `json:"settlement_time" xml:"settlement_time"`
	Msg                string `json:"msg" xml:"msg"`
}

// trade is the Trade of a trade event, nil for any other event.
func (t tradeFields) trade(event string) *Trade {
	if event != SettlementEvent && event != RemindShippingEvent {
		return nil
	}
	return &Trade{TransactionID: t.TransactionID, MerchantID: t.MerchantID, MerchantTradeNo: t.MerchantTradeNo, PayTime: t.PayTime,
		ShippedTime: t.ShippedTime, ConfirmReceiveTime: t.ConfirmReceiveTime, SettlementTime: t.SettlementTime, Msg: t.Msg}
}
