package sandbox_test

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/wxevent"
)

const (
	pushToken  = "sandbox-push-token"
	pushAESKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
)

// arrival is one push as the receiver got it.
type arrival struct {
	contentType string
	query       url.Values
	body        []byte
}

// receiver is a mini program server for the sandbox to push to: it keeps
// every request and answers each with answer.
type receiver struct {
	mu     sync.Mutex
	got    []arrival
	answer string
}

func startReceiver(t *testing.T, answer string) (*receiver, string) {
	t.Helper()
	rc := &receiver{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, arrival{contentType: r.Header.Get("Content-Type"), query: r.URL.Query(), body: body})
		rc.mu.Unlock()
		_, _ = io.WriteString(w, rc.answer)
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

// pushOutcomes waits until the sandbox has counted n push outcomes and returns them.
func pushOutcomes(t *testing.T, sb *sandbox.Sandbox, n int, within time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c := sb.Calls()["push"]
		total := 0
		for _, v := range c.Outcomes {
			total += v
		}
		if total >= n {
			return c.Outcomes
		}
		if time.Now().After(deadline) {
			t.Fatalf("push outcomes %v; want %d of them", c.Outcomes, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pushingFixture is a sandbox pushing to a receiver that answers answer.
func pushingFixture(t *testing.T, answer string, p sandbox.Push) (*fixture, *receiver) {
	t.Helper()
	f := setup(t)
	rc, u := startReceiver(t, answer)
	p.URL, p.Token = u, pushToken
	if err := f.sb.SetPush(p); err != nil {
		t.Fatal(err)
	}
	return f, rc
}

// allThreeEvents has a user accept (popup event), receive a message (sent
// event) and turn the template off in settings (change event); it returns
// the user and the message's msgid.
func (f *fixture) allThreeEvents(t *testing.T) (openid, msgid string) {
	t.Helper()
	openid = f.subscriber(t, 1)
	wantCode(t, "send", f.send(t, f.stable(t, false).AccessToken, f.orderBody(openid)), 0)
	if _, err := f.sb.Subscribe(openid, f.order.ID, sandbox.Unsubscribe, 1); err != nil {
		t.Fatal(err)
	}
	msgs := f.sb.Messages(openid, f.order.ID)
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered; want 1", len(msgs))
	}
	return openid, msgs[0].MsgID
}

// Every push, in each of the four forms, is labelled text/xml as WeChat
// labels them, and wxevent, the api's receiver, reads it: the user's
// choices, and the sent event's 64-bit msgid to the last digit. The sandbox
// signs and encrypts with wxevent too, so this shows the two agree, not
// that they agree with WeChat: that is checked against an SDK we did not
// write, silenceper's, in the bench's module (deploy/bench/sdkcheck), which
// keeps that SDK out of the service's go.mod.
func TestPushesAsWeChatSendsThem(t *testing.T) {
	t.Parallel()
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
			f, rc := pushingFixture(t, "success", mode.push)
			openid, msgid := f.allThreeEvents(t)
			ours, _ := wxevent.NewVerifier(pushToken, mode.push.AESKey, appID)
			seen := map[string]bool{}
			for _, a := range rc.arrivals(t, 3) {
				if a.contentType != "text/xml" {
					t.Errorf("push labelled %q; WeChat labels its pushes text/xml", a.contentType)
				}
				if got := a.query.Get("encrypt_type") == "aes"; got != (mode.push.AESKey != "") {
					t.Errorf("encrypt_type %q in %s", a.query.Get("encrypt_type"), mode.name)
				}
				p, err := ours.Open(wxevent.Params{Signature: a.query.Get("signature"), Timestamp: a.query.Get("timestamp"),
					Nonce: a.query.Get("nonce"), MsgSignature: a.query.Get("msg_signature")}, a.body)
				if err != nil {
					t.Fatalf("wxevent could not read the push: %v\n%s", err, a.body)
				}
				seen[p.Event] = true
				switch p.Event {
				case wxevent.PopupEvent:
					if p.FromUserName != openid || len(p.Choices) != 1 || p.Choices[0].TemplateID != f.order.ID || p.Choices[0].Status != "accept" {
						t.Errorf("popup event read as %+v", p)
					}
				case wxevent.ChangeEvent:
					if len(p.Choices) != 1 || p.Choices[0].TemplateID != f.order.ID || p.Choices[0].Status != "reject" {
						t.Errorf("change event read as %+v", p)
					}
				case wxevent.SentEvent:
					if len(p.Results) != 1 || p.Results[0].MsgID != msgid || p.Results[0].ErrorCode != 0 || p.Results[0].ErrorStatus != "success" {
						t.Errorf("sent event read as %+v; want msgid %s, ErrorCode 0", p.Results, msgid)
					}
				default:
					t.Errorf("push read as event %q", p.Event)
				}
			}
			if len(seen) != 3 {
				t.Fatalf("events %v; want popup, sent and change", seen)
			}
		})
	}
}

// In JSON the sent event's MsgID and ErrorCode are strings, as in WeChat's
// documented example, so that a JavaScript receiver keeps every digit.
func TestJSONSentEventHasStringMsgIDAndErrorCode(t *testing.T) {
	t.Parallel()
	f, rc := pushingFixture(t, "success", sandbox.Push{})
	openid := f.subscriber(t, 1)
	wantCode(t, "send", f.send(t, f.stable(t, false).AccessToken, f.orderBody(openid)), 0)
	msgid := f.sb.Messages(openid, f.order.ID)[0].MsgID
	for _, a := range rc.arrivals(t, 2) {
		if !bytes.Contains(a.body, []byte(`"subscribe_msg_sent_event"`)) {
			continue
		}
		if want := `"MsgID":"` + msgid + `","ErrorCode":"0"`; !bytes.Contains(a.body, []byte(want)) {
			t.Fatalf("sent event %s; want %s", a.body, want)
		}
		return
	}
	t.Fatal("no sent event arrived")
}

// WeChat takes an empty answer or "success" as the acknowledgement and
// pushes once; any other answer makes it push the same event again, three
// more times at most.
func TestPushAcknowledgement(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		answer   string
		pushes   int
		outcomes map[string]int
	}{
		{"", 1, map[string]int{"success": 1}},
		{"success", 1, map[string]int{"success": 1}},
		{"ok", 4, map[string]int{"retry": 4, "given_up": 1}},
	} {
		t.Run("answer "+tc.answer, func(t *testing.T) {
			t.Parallel()
			f, rc := pushingFixture(t, tc.answer, sandbox.Push{})
			f.subscriber(t, 1) // one popup event
			n := 0
			for _, v := range tc.outcomes {
				n += v
			}
			if got := pushOutcomes(t, f.sb, n, 5*time.Second); !maps.Equal(got, tc.outcomes) {
				t.Fatalf("answering %q: push outcomes %v; want %v", tc.answer, got, tc.outcomes)
			}
			all := rc.arrivals(t, tc.pushes)
			if len(all) != tc.pushes {
				t.Fatalf("%d pushes; want %d", len(all), tc.pushes)
			}
			for _, a := range all[1:] {
				if !bytes.Equal(a.body, all[0].body) {
					t.Fatalf("a repeated push differs: %s vs %s", a.body, all[0].body)
				}
			}
		})
	}
}
