package wxevent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"wxnotify/internal/wxevent"
)

const (
	token  = "wxnotify-push-token"
	aesKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" // base64 of bytes 0..31, unpadded
	appID  = "wx0123456789abcdef"
)

func params() wxevent.Params {
	return wxevent.Params{Signature: wxevent.Sign(token, "1700000000", "nonce42"), Timestamp: "1700000000", Nonce: "nonce42"}
}

func TestSignMatchesWeChatsAlgorithm(t *testing.T) {
	t.Parallel()
	// sha1 of the sorted, joined token, timestamp and nonce, computed outside Go.
	if got := wxevent.Sign(token, "1700000000", "nonce42"); got != "21f517d7d661efd4de53e45da80dba10a4b22e86" {
		t.Fatalf("Sign = %s", got)
	}
	v, _ := wxevent.NewVerifier(token, "", "")
	if !v.Check("21f517d7d661efd4de53e45da80dba10a4b22e86", "1700000000", "nonce42") || v.Check("21f517d7d661efd4de53e45da80dba10a4b22e87", "1700000000", "nonce42") {
		t.Fatal("Check does not tell a right signature from a wrong one")
	}
}

func TestNewVerifierNamesBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ token, key, want string }{
		{"", "", "empty push token"},
		{token, "short", "43"},
		{token, strings.Repeat("!", 43), "not base64"},
	} {
		if _, err := wxevent.NewVerifier(tc.token, tc.key, appID); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewVerifier(%q, %q): %v; want %q", tc.token, tc.key, err, tc.want)
		}
	}
}

func TestOpenJSONListAsObjectOrArray(t *testing.T) {
	t.Parallel()
	v, _ := wxevent.NewVerifier(token, "", appID)
	one := `{"ToUserName":"gh_1","FromUserName":"o-user-1","CreateTime":1700000000,"MsgType":"event","Event":"subscribe_msg_popup_event",
		"List":{"TemplateId":"T1","SubscribeStatusString":"accept","PopupScene":0}}`
	many := `{"ToUserName":"gh_1","FromUserName":"o-user-1","CreateTime":1700000001,"MsgType":"event","Event":"subscribe_msg_popup_event",
		"List":[{"TemplateId":"T1","SubscribeStatusString":"accept","PopupScene":"2"},{"TemplateId":"T2","SubscribeStatusString":"reject","PopupScene":"2"}]}`
	p, err := v.Open(params(), []byte(one))
	if err != nil || p.Event != wxevent.PopupEvent || p.FromUserName != "o-user-1" || p.CreateTime != 1700000000 ||
		len(p.Choices) != 1 || p.Choices[0] != (wxevent.Choice{TemplateID: "T1", Status: "accept", PopupScene: "0"}) {
		t.Fatalf("one item: %+v, %v", p, err)
	}
	p, err = v.Open(params(), []byte(many))
	if err != nil || len(p.Choices) != 2 || p.Choices[1].Status != "reject" {
		t.Fatalf("two items: %+v, %v", p, err)
	}
	sent := `{"FromUserName":"o-user-1","CreateTime":1700000002,"MsgType":"event","Event":"subscribe_msg_sent_event",
		"List":{"TemplateId":"T1","MsgID":1988810812324364291,"ErrorCode":0,"ErrorStatus":"success"}}`
	p, err = v.Open(params(), []byte(sent))
	if err != nil || len(p.Results) != 1 || p.Results[0].MsgID != "1988810812324364291" || p.Results[0].ErrorStatus != "success" {
		t.Fatalf("sent event: %+v, %v (the msgid must stay exact)", p, err)
	}
}

// MsgID, ErrorCode and CreateTime come as numbers or as strings (WeChat's
// documented example has "MsgID": "1864323726461255680", "ErrorCode": "0");
// both read the same, and a msgid above 2^53 keeps every digit.
func TestOpenJSONSentEventNumbersOrStrings(t *testing.T) {
	t.Parallel()
	v, _ := wxevent.NewVerifier(token, "", appID)
	for _, tc := range []struct{ createTime, msgid, errcode string }{
		{`1700000002`, `1864323726461255680`, `0`},
		{`"1700000002"`, `"1864323726461255680"`, `"0"`},
		{`1700000002`, `"1864323726461255680"`, `"0"`},
		{`"1700000002"`, `1864323726461255680`, `0`},
		{`1700000002`, `"9223372036854775807"`, `"20001"`},
		{`1700000002`, `18446744073709551615`, `20001`},
	} {
		body := `{"FromUserName":"o-user-1","CreateTime":` + tc.createTime + `,"MsgType":"event","Event":"subscribe_msg_sent_event",
			"List":[{"TemplateId":"T1","MsgID":` + tc.msgid + `,"ErrorCode":` + tc.errcode + `,"ErrorStatus":"success"}]}`
		p, err := v.Open(params(), []byte(body))
		wantID, wantCode := strings.Trim(tc.msgid, `"`), strings.Trim(tc.errcode, `"`)
		if err != nil || p.CreateTime != 1700000002 || len(p.Results) != 1 || p.Results[0].MsgID != wantID || fmt.Sprint(p.Results[0].ErrorCode) != wantCode {
			t.Errorf("CreateTime %s, MsgID %s, ErrorCode %s: %+v, %v", tc.createTime, tc.msgid, tc.errcode, p, err)
		}
	}
}

func TestOpenXML(t *testing.T) {
	t.Parallel()
	v, _ := wxevent.NewVerifier(token, "", appID)
	change := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o-user-2]]></FromUserName><CreateTime>1700000003</CreateTime>
<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_change_event]]></Event>
<SubscribeMsgChangeEvent><List><TemplateId><![CDATA[T1]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent></xml>`
	p, err := v.Open(params(), []byte(change))
	if err != nil || p.Event != wxevent.ChangeEvent || p.CreateTime != 1700000003 || len(p.Choices) != 1 || p.Choices[0].Status != "reject" {
		t.Fatalf("change event: %+v, %v", p, err)
	}
	sent := `<xml><FromUserName>o-user-2</FromUserName><CreateTime>1700000004</CreateTime><MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event>
<SubscribeMsgSentEvent><List><TemplateId>T1</TemplateId><MsgID>1988810812324364291</MsgID><ErrorCode>20001</ErrorCode><ErrorStatus>failed:user refuse to accept the msg</ErrorStatus></List></SubscribeMsgSentEvent></xml>`
	p, err = v.Open(params(), []byte(sent))
	if err != nil || len(p.Results) != 1 || p.Results[0].MsgID != "1988810812324364291" || p.Results[0].ErrorCode != 20001 {
		t.Fatalf("sent event: %+v, %v", p, err)
	}
}

func TestOpenRefusesWhatIsNotAPush(t *testing.T) {
	t.Parallel()
	v, _ := wxevent.NewVerifier(token, "", appID)
	bad := params()
	bad.Signature = strings.Repeat("0", 40)
	if _, err := v.Open(bad, []byte(`{"Event":"subscribe_msg_popup_event"}`)); !errors.Is(err, wxevent.ErrSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	for _, body := range []string{`not a push`, `{"CreateTime":"yesterday"}`, `{"List":7}`, `<xml><CreateTime>x</CreateTime></xml>`} {
		if _, err := v.Open(params(), []byte(body)); !errors.Is(err, wxevent.ErrBody) {
			t.Errorf("Open(%s): %v; want ErrBody", body, err)
		}
	}
}

// Safe mode as WeChat sends it: the body holds only Encrypt, signed with
// msg_signature over the token, timestamp, nonce and the ciphertext.
func TestSafeMode(t *testing.T) {
	t.Parallel()
	v, err := wxevent.NewVerifier(token, aesKey, appID)
	if err != nil {
		t.Fatal(err)
	}
	plain := `{"FromUserName":"o-user-3","CreateTime":1700000005,"MsgType":"event","Event":"subscribe_msg_popup_event","List":{"TemplateId":"T9","SubscribeStatusString":"accept","PopupScene":"0"}}`
	enc, err := v.Encrypt([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"ToUserName": "gh_1", "Encrypt": enc})
	p := params()
	p.MsgSignature = wxevent.Sign(token, p.Timestamp, p.Nonce, enc)
	got, err := v.Open(p, body)
	if err != nil || got.FromUserName != "o-user-3" || got.Choices[0].TemplateID != "T9" {
		t.Fatalf("safe mode: %+v, %v", got, err)
	}
	xmlBody := []byte("<xml><ToUserName>gh_1</ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
	if _, err := v.Open(p, xmlBody); err != nil {
		t.Fatalf("safe mode in XML: %v", err)
	}

	wrong := p
	wrong.MsgSignature = wxevent.Sign(token, p.Timestamp, "other-nonce", enc)
	if _, err := v.Open(wrong, body); !errors.Is(err, wxevent.ErrSignature) {
		t.Fatalf("wrong msg_signature: %v", err)
	}
	other, _ := wxevent.NewVerifier(token, aesKey, "wx-another-app")
	if _, err := other.Open(p, body); !errors.Is(err, wxevent.ErrBody) {
		t.Fatalf("a body encrypted for another appid: %v", err)
	}
	plainOnly, _ := wxevent.NewVerifier(token, "", appID)
	if _, err := plainOnly.Open(p, body); !errors.Is(err, wxevent.ErrBody) {
		t.Fatalf("encrypted body without a key: %v", err)
	}
}

func TestRetriedPushesShareAnID(t *testing.T) {
	t.Parallel()
	v, _ := wxevent.NewVerifier(token, "", appID)
	body := []byte(`{"FromUserName":"o-1","CreateTime":1700000000,"Event":"subscribe_msg_popup_event","List":{"TemplateId":"T1","SubscribeStatusString":"accept"}}`)
	a, _ := v.Open(params(), body)
	b, _ := v.Open(params(), body)
	if a.ID() != b.ID() || a.ID() == "" {
		t.Fatalf("IDs %q and %q", a.ID(), b.ID())
	}
	other, _ := v.Open(params(), []byte(`{"FromUserName":"o-1","CreateTime":1700000000,"Event":"subscribe_msg_popup_event","List":{"TemplateId":"T2","SubscribeStatusString":"accept"}}`))
	if other.ID() == a.ID() {
		t.Fatal("two different pushes in the same second share an ID")
	}
}
