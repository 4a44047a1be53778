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
}

type pushState struct {
	cfg      Push
	verifier *wxevent.Verifier
	client   *http.Client
	last     map[string]int64 // openid → last CreateTime, kept strictly increasing
}

// SetPush starts (or, with an empty URL, stops) the pushes.
func (s *Sandbox) SetPush(p Push) error {
	var v *wxevent.Verifier
	if p.URL != "" {
		var err error
		if v, err = wxevent.NewVerifier(p.Token, p.AESKey, s.cfg.AppID); err != nil {
			return fmt.Errorf("sandbox push: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push = pushState{cfg: p, verifier: v, client: &http.Client{Timeout: 5 * time.Second}, last: map[string]int64{}}
	return nil
}

// pushItem is one List entry, in the shape both JSON and XML use.
type pushItem struct {
	TemplateId            string `json:"TemplateId" xml:"TemplateId"`
	SubscribeStatusString string `json:"SubscribeStatusString,omitempty" xml:"SubscribeStatusString,omitempty"`
	PopupScene            string `json:"PopupScene,omitempty" xml:"PopupScene,omitempty"`
	MsgID                 string `json:"-" xml:"MsgID,omitempty"`
	ErrorCode             *int   `json:"ErrorCode,omitempty" xml:"ErrorCode,omitempty"`
	ErrorStatus           string `json:"ErrorStatus,omitempty" xml:"ErrorStatus,omitempty"`
}

// pushLocked queues one push of event about openid; s.mu must be held.
func (s *Sandbox) pushLocked(openid, event string, item pushItem) {
	if s.push.cfg.URL == "" {
		return
	}
	// WeChat's CreateTime is in seconds; keep one user's strictly increasing
	// so that two pushes in one second are not mistaken for a retry.
	t := max(s.now().Unix(), s.push.last[openid]+1)
	s.push.last[openid] = t
	body := s.encodePush(openid, event, t, item)
	ps := s.push
	go s.deliverPush(ps, body)
}

func (s *Sandbox) encodePush(openid, event string, t int64, item pushItem) []byte {
	if s.push.cfg.XML {
		wrap := map[string]string{PopupEventName: "SubscribeMsgPopupEvent", ChangeEventName: "SubscribeMsgChangeEvent", SentEventName: "SubscribeMsgSentEvent"}[event]
		items, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"List"`
			pushItem
		}{pushItem: item})
		return fmt.Appendf(nil, "<xml><ToUserName>gh_sandbox</ToUserName><FromUserName>%s</FromUserName><CreateTime>%d</CreateTime><MsgType>event</MsgType><Event>%s</Event><%s>%s</%s></xml>",
			openid, t, event, wrap, items, wrap)
	}
	list, _ := json.Marshal(item)
	if item.MsgID != "" { // a bare 64-bit number, as WeChat sends it
		list = append(list[:len(list)-1], fmt.Appendf(nil, `,"MsgID":%s}`, item.MsgID)...)
	}
	return fmt.Appendf(nil, `{"ToUserName":"gh_sandbox","FromUserName":%q,"CreateTime":%d,"MsgType":"event","Event":%q,"List":%s}`, openid, t, event, list)
}

// deliverPush posts body as WeChat does — signed, encrypted in safe mode —
// and retries up to three times while the server does not answer success.
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
				payload = []byte("<xml><ToUserName>gh_sandbox</ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
			} else {
				payload, _ = json.Marshal(map[string]string{"ToUserName": "gh_sandbox", "Encrypt": enc})
			}
		}
		resp, err := ps.client.Post(ps.cfg.URL+"?"+q.Encode(), "application/json", bytes.NewReader(payload))
		if err == nil {
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(answer) == "success" {
				s.count("push", "success")
				return
			}
		}
		s.count("push", "retry")
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	s.count("push", "given_up")
}

// Event names of the pushes.
const (
	PopupEventName  = wxevent.PopupEvent
	ChangeEventName = wxevent.ChangeEvent
	SentEventName   = wxevent.SentEvent
)
