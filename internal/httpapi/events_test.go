package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/wxevent"
)

const safeKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

// push sends body to /v1/wx/events signed and labelled (text/xml, JSON
// bodies too) as WeChat sends it, in safe mode when aesKey is set, and
// returns status and body.
func (e *env) push(body string, aesKey string, tamper bool) (int, string) {
	e.t.Helper()
	return e.pushAs("text/xml", body, aesKey, tamper)
}

// pushAs is push with another Content-Type.
func (e *env) pushAs(contentType, body string, aesKey string, tamper bool) (int, string) {
	e.t.Helper()
	q := url.Values{"timestamp": {"1700000000"}, "nonce": {"n1"}}
	q.Set("signature", wxevent.Sign(pushToken, "1700000000", "n1"))
	if aesKey != "" {
		v, _ := wxevent.NewVerifier(pushToken, aesKey, sandboxtest.AppID)
		enc, err := v.Encrypt([]byte(body))
		if err != nil {
			e.t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]string{"ToUserName": "gh_1", "Encrypt": enc})
		body = string(b)
		q.Set("msg_signature", wxevent.Sign(pushToken, "1700000000", "n1", enc))
	}
	if tamper {
		q.Set("signature", strings.Repeat("0", 40))
		q.Set("msg_signature", strings.Repeat("0", 40))
	}
	resp, err := e.client.Post(e.url+"/v1/wx/events?"+q.Encode(), contentType, bytes.NewReader([]byte(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func popup(openid string, createTime int, status string) string {
	return fmt.Sprintf(`{"ToUserName":"gh_1","FromUserName":%q,"CreateTime":%d,"MsgType":"event","Event":"subscribe_msg_popup_event","List":{"TemplateId":%q,"SubscribeStatusString":%q,"PopupScene":"0"}}`,
		openid, createTime, orderTmpl, status)
}

// grantsEventually polls the user's grant for the order template until it is want.
func (e *env) grantsEventually(user string, want string) {
	e.t.Helper()
	key := subscriber.NewKeys(sandboxtest.AppID).Grants(user)
	deadline := time.Now().Add(5 * time.Second)
	for got := e.rdb.HGet(e.t.Context(), key, orderTmpl).Val(); got != want; got = e.rdb.HGet(e.t.Context(), key, orderTmpl).Val() {
		if time.Now().After(deadline) {
			e.t.Fatalf("grant of %s is %q; want %q", user, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPushOffAnswers404(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.want(e.do("GET", "/v1/wx/events?echostr=x", "", nil), 404, "not_configured")
}

func TestPushURLVerification(t *testing.T) {
	t.Parallel()
	e := setup(t, options{push: true})
	q := "timestamp=1700000000&nonce=n1&echostr=hello-wechat&signature="
	resp, _ := e.client.Get(e.url + "/v1/wx/events?" + q + wxevent.Sign(pushToken, "1700000000", "n1"))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello-wechat" {
		t.Fatalf("verification: %d %q; want 200 with the echostr", resp.StatusCode, b)
	}
	e.want(e.do("GET", "/v1/wx/events?"+q+strings.Repeat("0", 40), "", nil), 401, "bad_signature")
}

// GRANT_SOURCE=events: WeChat's popup pushes count the grants; a retried
// push counts once; a badly signed one records nothing; the mini program's
// own report no longer counts.
func TestPushCountsGrantsWithGrantSourceEvents(t *testing.T) {
	t.Parallel()
	for _, aes := range []string{"", safeKey} {
		e := setup(t, options{push: true, grantSource: "events", pushAESKey: aes})
		token, openid := e.login("")
		if st, body := e.push(popup(openid, 1700000001, "accept"), aes, false); st != 200 || body != "success" {
			t.Fatalf("push: %d %q; want 200 success", st, body)
		}
		e.grantsEventually(openid, "1")
		e.push(popup(openid, 1700000001, "accept"), aes, false) // WeChat's retry of the same push
		if st, _ := e.push(popup(openid, 1700000002, "accept"), aes, true); st != 401 {
			t.Fatalf("tampered push answered %d; want 401", st)
		}
		e.push(popup(openid, 1700000003, "accept"), aes, false)
		e.grantsEventually(openid, "2")
		r := e.do("POST", "/v1/subscriptions", bearer(token), map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"})
		if grantOf(t, r, "order_arrived") != float64(2) {
			t.Fatalf("a client report counted with GRANT_SOURCE=events: %s", r.raw)
		}
		e.push(popup(openid, 1700000004, "reject"), aes, false)
		e.grantsEventually(openid, "0")
	}
}

// GRANT_SOURCE=client (the default): the reports count; a popup push only
// zeroes on reject, and a settings reject (XML here) marks the template
// unsubscribed so queued notifications skip as such.
func TestPushWithGrantSourceClient(t *testing.T) {
	t.Parallel()
	e := setup(t, options{push: true})
	token, openid := e.login("")
	e.do("POST", "/v1/subscriptions", bearer(token), map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"})
	e.push(popup(openid, 1700000010, "accept"), "", false)
	time.Sleep(100 * time.Millisecond)
	e.grantsEventually(openid, "1") // the push's accept did not count again

	change := fmt.Sprintf(`<xml><ToUserName>gh_1</ToUserName><FromUserName>%s</FromUserName><CreateTime>1700000011</CreateTime><MsgType>event</MsgType><Event>subscribe_msg_change_event</Event><SubscribeMsgChangeEvent><List><TemplateId>%s</TemplateId><SubscribeStatusString>reject</SubscribeStatusString></List></SubscribeMsgChangeEvent></xml>`, openid, orderTmpl)
	if st, body := e.push(change, "", false); st != 200 || body != "success" {
		t.Fatalf("change push: %d %q", st, body)
	}
	e.grantsEventually(openid, "0")
	if !e.rdb.HExists(t.Context(), subscriber.NewKeys(sandboxtest.AppID).Unsubscribed(openid), orderTmpl).Val() {
		t.Fatal("a settings reject did not mark the template unsubscribed")
	}
	// Accepting again lifts it.
	e.do("POST", "/v1/subscriptions", bearer(token), map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"})
	if e.rdb.HExists(t.Context(), subscriber.NewKeys(sandboxtest.AppID).Unsubscribed(openid), orderTmpl).Val() {
		t.Fatal("accepting again left the template marked unsubscribed")
	}
}

// subscribe_msg_sent_event shows as WeChat's final status on the
// notification that delivered that msgid, even when WeChat pushes it before
// the worker has recorded the delivery (WeChat does not order the two).
func TestPushSentEventShowsOnTheStatus(t *testing.T) {
	t.Parallel()
	e := setup(t, options{push: true})
	r := e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-sent", "order-sent"))
	id := str(r.body, "id")
	sent := `{"FromUserName":"o-x","CreateTime":1700000020,"MsgType":"event","Event":"subscribe_msg_sent_event","List":[{"TemplateId":"` + orderTmpl + `","MsgID":1988810812324364291,"ErrorCode":0,"ErrorStatus":"success"}]}`
	if st, body := e.push(sent, "", false); st != 200 || body != "success" {
		t.Fatalf("sent push: %d %q", st, body)
	}
	standInWorker(t, e, "1988810812324364291")
	deadline := time.Now().Add(10 * time.Second) // bounds a stuck stand-in worker (it picks up within 10 ms)
	for {
		st := e.do("GET", "/v1/notifications/"+id, bearer(apiKey), nil)
		if str(st.body, "wechat", "error_status") == "success" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed WeChat's result: %s", st.raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Applying a sent event twice changes nothing, so it is not remembered
	// as popup and settings pushes are: no key per sent event, and the
	// msgid's meeting key is gone once both sides came.
	if keys := e.rdb.Keys(t.Context(), "wxnotify:*:push:*").Val(); len(keys) != 0 {
		t.Fatalf("a sent event left %v; want no push key", keys)
	}
	if n := e.rdb.Exists(t.Context(), e.records.Keys().Msg("1988810812324364291")).Val(); n != 0 {
		t.Fatal("the msgid's meeting key outlived the meeting")
	}
}

func TestPushRefusesGarbage(t *testing.T) {
	t.Parallel()
	e := setup(t, options{push: true})
	if st, body := e.push(`not a push`, "", false); st != 400 || !strings.Contains(body, "invalid_push") {
		t.Fatalf("garbage: %d %s", st, body)
	}
	// Pushes of other kinds are acknowledged and ignored.
	if st, body := e.push(`{"FromUserName":"o","CreateTime":1,"MsgType":"event","Event":"user_enter_tempsession"}`, "", false); st != 200 || body != "success" {
		t.Fatalf("other event: %d %s", st, body)
	}
}

// The format is judged by the body, never by the label: WeChat labels its
// JSON pushes text/xml, and a label may be missing or wrong.
func TestPushFormatIsJudgedByTheBody(t *testing.T) {
	t.Parallel()
	for _, aes := range []string{"", safeKey} {
		e := setup(t, options{push: true, grantSource: "events", pushAESKey: aes})
		_, openid := e.login("")
		xmlPopup := fmt.Sprintf(`<xml><ToUserName>gh_1</ToUserName><FromUserName>%s</FromUserName><CreateTime>%%d</CreateTime><MsgType>event</MsgType><Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List><TemplateId>%s</TemplateId><SubscribeStatusString>accept</SubscribeStatusString><PopupScene>0</PopupScene></List></SubscribeMsgPopupEvent></xml>`, openid, orderTmpl)
		n := 0
		for _, label := range []string{"text/xml", "text/xml; charset=utf-8", "application/json", "application/x-www-form-urlencoded", ""} {
			for _, body := range []string{popup(openid, 1700000100+n, "accept"), fmt.Sprintf(xmlPopup, 1700000101+n)} {
				if st, answer := e.pushAs(label, body, aes, false); st != 200 || answer != "success" {
					t.Fatalf("aes %v, labelled %q: %d %q for %s", aes != "", label, st, answer, body)
				}
				n += 2
			}
		}
		e.grantsEventually(openid, fmt.Sprint(n/2))
	}
}
