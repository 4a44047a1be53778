package wechat

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
)

// Message is the body of subscribeMessage.send.
type Message struct {
	// ToUser is the receiver's openid (of the same appid as the token).
	ToUser string `json:"touser"`
	// TemplateID is the subscribe template id from the mini program admin console.
	TemplateID string `json:"template_id"`
	// Page opens on tap and may carry a query ("pages/order/detail?id=42").
	Page string `json:"page,omitempty"`
	// Data maps the template's keywords ("thing1") to their values.
	Data map[string]Value `json:"data"`
	// MiniprogramState is "developer", "trial" or "formal" (WeChat's default).
	MiniprogramState string `json:"miniprogram_state,omitempty"`
	// Lang is "zh_CN" (default), "en_US", "zh_HK" or "zh_TW".
	Lang string `json:"lang,omitempty"`
}

// Value is one keyword's value in Message.Data.
type Value struct {
	Value string `json:"value"`
}

// Values builds Message.Data from plain keyword → value pairs.
func Values(kv map[string]string) map[string]Value {
	d := make(map[string]Value, len(kv))
	for k, v := range kv {
		d[k] = Value{Value: v}
	}
	return d
}

// SendSubscribe sends one subscribe message with the given access token and
// returns WeChat's msgid, a 64-bit integer kept exact as a decimal string.
//
// WeChat has no idempotency key: after a timeout the message may have been
// delivered (Classify marks such outcomes Ambiguous).
func (c *Client) SendSubscribe(ctx context.Context, token string, msg Message) (string, error) {
	var out struct {
		status
		MsgID json.Number `json:"msgid"`
	}
	q := url.Values{"access_token": {token}}
	if err := c.call(ctx, EndpointSend, "POST", "/cgi-bin/message/subscribe/send", q, msg, &out); err != nil {
		return "", err
	}
	id := out.MsgID.String()
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", &MalformedError{Endpoint: EndpointSend, Reason: "msgid " + strconv.Quote(id) + " is not a 64-bit integer"}
	}
	return id, nil
}
