package wxevent_test

import (
	"errors"
	"testing"

	"wxnotify/internal/wxevent"
)

// No body, plain or encrypted, JSON or XML, makes Open panic; every refusal
// is ErrSignature or ErrBody.
func FuzzOpen(f *testing.F) {
	v, _ := wxevent.NewVerifier(token, aesKey, appID)
	enc, _ := v.Encrypt([]byte(`{"FromUserName":"o","CreateTime":1,"Event":"subscribe_msg_popup_event","List":{"TemplateId":"T"}}`))
	for _, s := range []string{
		`{"FromUserName":"o","CreateTime":1,"Event":"subscribe_msg_sent_event","List":[{"MsgID":1988810812324364291}]}`,
		`<xml><Event>subscribe_msg_change_event</Event><SubscribeMsgChangeEvent><List><TemplateId>T</TemplateId></List></SubscribeMsgChangeEvent></xml>`,
		`{"Encrypt":"` + enc + `"}`, `{"Encrypt":"AAAA"}`, `<xml><Encrypt>====</Encrypt></xml>`, `{"List":null}`, ``, `[`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		p := params()
		if !signed {
			p.Signature = "x"
		}
		if e, err := wxevent.NewVerifier(token, aesKey, appID); err == nil {
			// Sign whatever Encrypt the body may hold, so decryption is reached.
			p.MsgSignature = wxevent.Sign(token, p.Timestamp, p.Nonce, string(body))
			v = e
		}
		push, err := v.Open(p, body)
		if err != nil && !errors.Is(err, wxevent.ErrSignature) && !errors.Is(err, wxevent.ErrBody) {
			t.Fatalf("Open: unexpected error kind %v", err)
		}
		if err == nil && push == nil {
			t.Fatal("no error and no push")
		}
	})
}
