package sdkcheck_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	spconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	spcontext "github.com/silenceper/wechat/v2/miniprogram/context"
	spmessage "github.com/silenceper/wechat/v2/miniprogram/message"
	sputil "github.com/silenceper/wechat/v2/util"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
)

const (
	appID      = sandboxtest.AppID
	pushToken  = "sandbox-push-token"
	pushAESKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	// otherAESKey is a valid key that is not the app's.
	otherAESKey = "HxwdGhsYGRYXFBUSExAREA8ODQwLCgkIBwYFBAMCAQA"
)

// arrival is one push as the mini program's server got it.
type arrival struct {
	contentType string
	query       url.Values
	body        []byte
}

// receiver is a mini program server for the sandbox to push to: it keeps
// every request and acknowledges each with "success".
type receiver struct {
	mu  sync.Mutex
	got []arrival
}

func startReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	rc := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, arrival{contentType: r.Header.Get("Content-Type"), query: r.URL.Query(), body: body})
		rc.mu.Unlock()
		_, _ = io.WriteString(w, "success")
	}))
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

// arrivals returns what arrived once there are n, or fails.
func (rc *receiver) arrivals(t *testing.T, n int) []arrival {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rc.mu.Lock()
		got := append([]arrival(nil), rc.got...)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pushes arrived; want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// post sends body as JSON to the sandbox's path and decodes the answer.
func post(t *testing.T, s *sandboxtest.Server, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(s.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if code, _ := a["errcode"].(float64); code != 0 {
		t.Fatalf("%s: %v", path, a)
	}
	return a
}

// allThreeEvents has a user accept the order template (popup event),
// receive a message (sent event) and turn the template off in settings
// (change event); it returns the user, the template and the message's msgid.
func allThreeEvents(t *testing.T, s *sandboxtest.Server) (openid, tmpl, msgid string) {
	t.Helper()
	tmpl = s.Config.Templates[0].ID
	_, openid = s.Login("", "", false)
	if _, err := s.Subscribe(openid, tmpl, sandbox.Accept, 1); err != nil {
		t.Fatal(err)
	}
	tok := post(t, s, "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": appID, "secret": sandboxtest.AppSecret})
	accessToken, _ := tok["access_token"].(string)
	v := func(s string) map[string]string { return map[string]string{"value": s} }
	post(t, s, "/cgi-bin/message/subscribe/send?access_token="+url.QueryEscape(accessToken), map[string]any{
		"touser": openid, "template_id": tmpl, "page": "pages/order/detail?id=7",
		"data": map[string]any{
			"thing1": v("牛肉面 x2"), "character_string2": v("TX20261124001"),
			"time3": v("2026年11月24日 15:01"), "thing4": v("3号楼前台"), "thing5": v("凭取件码取件"),
		},
	})
	if _, err := s.Subscribe(openid, tmpl, sandbox.Unsubscribe, 1); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages(openid, tmpl)
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered; want 1", len(msgs))
	}
	return openid, tmpl, msgs[0].MsgID
}

// silenceper reads a push with silenceper's mini program receiver, as an
// app configured with token and aesKey would. It picks its parser by
// Content-Type (text/xml → XML, anything else → JSON) rather than by the
// body; contentType is the label it is given.
func silenceper(a arrival, contentType, token, aesKey string) (spmessage.EventType, spmessage.PushData, error) {
	r := httptest.NewRequest("POST", "/?"+a.query.Encode(), bytes.NewReader(a.body))
	r.Header.Set("Content-Type", contentType)
	ctx := &spcontext.Context{Config: &spconfig.Config{AppID: appID, Token: token, EncodingAESKey: aesKey}}
	_, event, data, err := spmessage.NewPushReceiver(ctx).GetMsgData(r)
	return event, data, err
}

// Every push, in each of the four forms, is labelled text/xml as WeChat
// labels them, and silenceper's receiver checks its signature, decrypts it
// in safe mode (checking the appid inside) and reads it: the user's
// choices, and the sent event's 64-bit msgid to the last digit with
// ErrorCode "0". silenceper does not check a safe-mode push's
// msg_signature, so the test computes it with silenceper's own signing
// function. Told the wrong token or AES key, silenceper must refuse the
// same push: the check has teeth. silenceper trusts the label, so JSON
// bodies are relabelled application/json: told text/xml, it cannot read
// the JSON that WeChat sends (see the report in issue 11).
func TestSilenceperReadsThePushes(t *testing.T) {
	t.Parallel()
	forEachForm(t, func(t *testing.T, s *sandboxtest.Server, rc *receiver, p sandbox.Push, label string) {
		openid, tmpl, msgid := allThreeEvents(t, s)
		safe := p.AESKey != ""
		seen := map[spmessage.EventType]bool{}
		for _, a := range rc.arrivals(t, 3) {
			if a.contentType != "text/xml" {
				t.Errorf("push labelled %q; WeChat labels its pushes text/xml", a.contentType)
			}
			if got := a.query.Get("encrypt_type") == "aes"; got != safe {
				t.Errorf("encrypt_type %q; safe mode %v", a.query.Get("encrypt_type"), safe)
			}
			event, data, err := silenceper(a, label, pushToken, p.AESKey)
			if err != nil {
				t.Fatalf("silenceper could not read the push: %v\n%s", err, a.body)
			}
			seen[event] = true
			switch d := data.(type) {
			case *spmessage.PushDataSubscribePopup:
				l := d.GetSubscribeMsgPopupEvents()
				if d.FromUserName != openid || len(l) != 1 || l[0].TemplateID != tmpl || l[0].SubscribeStatusString != "accept" {
					t.Errorf("popup event read as %+v %+v", d.CommonPushData, l)
				}
			case *spmessage.PushDataSubscribeMsgChange:
				l := d.GetSubscribeMsgChangeEvents()
				if d.FromUserName != openid || len(l) != 1 || l[0].TemplateID != tmpl || l[0].SubscribeStatusString != "reject" {
					t.Errorf("change event read as %+v %+v", d.CommonPushData, l)
				}
			case *spmessage.PushDataSubscribeMsgSent:
				l := d.GetSubscribeMsgSentEvents()
				if d.FromUserName != openid || len(l) != 1 || l[0].MsgID != msgid || l[0].ErrorCode != "0" || l[0].ErrorStatus != "success" {
					t.Errorf("sent event read as %+v; want msgid %s, ErrorCode 0", l, msgid)
				}
			default:
				t.Errorf("push read as %T", data)
			}

			if _, _, err := silenceper(a, label, "not-the-push-token", p.AESKey); err == nil {
				t.Error("silenceper read the push with the wrong token: the signature checks nothing")
			}
			if !safe {
				continue
			}
			var enc spmessage.DataReceived
			if p.XML {
				err = xml.Unmarshal(a.body, &enc)
			} else {
				err = json.Unmarshal(a.body, &enc)
			}
			if err != nil || enc.Encrypt == "" {
				t.Fatalf("safe-mode body without Encrypt (%v): %s", err, a.body)
			}
			q := a.query
			if want := sputil.Signature(pushToken, q.Get("timestamp"), q.Get("nonce"), enc.Encrypt); q.Get("msg_signature") != want {
				t.Errorf("msg_signature %q; want %q", q.Get("msg_signature"), want)
			}
			if _, _, err := silenceper(a, label, pushToken, otherAESKey); err == nil {
				t.Error("silenceper decrypted the push with another AES key")
			}
		}
		if len(seen) != 3 {
			t.Fatalf("events %v; want popup, sent and change", seen)
		}
	})
}

// forEachForm runs test, in parallel, once for each of the four forms a
// push takes (XML or JSON, plain or safe mode), with a sandbox pushing in
// that form to rc, and the Content-Type silenceper must be told to read it:
// silenceper trusts the label, and WeChat labels even JSON text/xml.
func forEachForm(t *testing.T, test func(t *testing.T, s *sandboxtest.Server, rc *receiver, p sandbox.Push, label string)) {
	for _, mode := range []struct {
		name string
		push sandbox.Push
	}{
		{"xml", sandbox.Push{XML: true}},
		{"xml safe mode", sandbox.Push{XML: true, AESKey: pushAESKey}},
		{"json", sandbox.Push{}},
		{"json safe mode", sandbox.Push{AESKey: pushAESKey}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s := sandboxtest.Start(t)
			rc, u := startReceiver(t)
			p := mode.push
			p.URL, p.Token = u, pushToken
			if err := s.SetPush(p); err != nil {
				t.Fatal(err)
			}
			label := "text/xml"
			if !p.XML {
				label = "application/json"
			}
			test(t, s, rc, p, label)
		})
	}
}
