package program

import (
	"testing"
	"time"
	"wxnotify/internal/httpapi/contract"

	"wxnotify/internal/sandbox"
)

// The whole loop with WeChat's pushes and GRANT_SOURCE=events: the user
// accepts at WeChat only, the popup push counts the grant, the message is
// delivered and WeChat's sent event shows on its status; after an
// unsubscribe in settings a queued notification skips as unsubscribed.
func TestE2EPushLoop(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		xml  bool
		aes  string
	}{{"json plain", false, ""}, {"xml safe mode", true, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			const token = "e2e-push-token"
			s := newStackEnv(t, 1, map[string]string{"WECHAT_PUSH_TOKEN": token, "WECHAT_PUSH_AES_KEY": mode.aes, "GRANT_SOURCE": "events"})
			// The api's answers to WeChat's pushes are held to the document too.
			if err := s.sb.SetPush(sandbox.Push{URL: s.api.addr + "/v1/wx/events", Token: token, AESKey: mode.aes, XML: mode.xml,
				Client: contract.Client(t, 5*time.Second)}); err != nil {
				t.Fatal(err)
			}
			openid := s.user(0, 0) // logged in; nothing reported by the mini program
			if _, err := s.sb.Subscribe(openid, orderTmpl, sandbox.Accept, 1); err != nil {
				t.Fatal(err)
			}
			s.waitGrant(openid, "1")

			st := s.waitState(s.notify(openid, "push-1", nil), "completed", 10*time.Second)
			if result(st, "status") != "delivered" {
				t.Fatalf("status %v; want delivered", st)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, st = s.call("GET", "/v1/notifications/"+st["id"].(string), e2eKey, nil)
				if w, _ := st["wechat"].(map[string]any); w["error_status"] == "success" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("WeChat's sent event never showed on the status: %v", st)
				}
				time.Sleep(20 * time.Millisecond)
			}

			// Accept again, queue one for later, then turn it off in settings.
			_, _ = s.sb.Subscribe(openid, orderTmpl, sandbox.Accept, 1)
			s.waitGrant(openid, "1")
			later := s.notify(openid, "push-2", map[string]any{"send_at": time.Now().Add(1500 * time.Millisecond).Format(time.RFC3339Nano)})
			_, _ = s.sb.Subscribe(openid, orderTmpl, sandbox.Unsubscribe, 1)
			s.waitGrant(openid, "0")
			st = s.waitState(later, "completed", 10*time.Second)
			if result(st, "status") != "skipped" || result(st, "reason") != "unsubscribed" {
				t.Fatalf("queued notification after an unsubscribe: %v; want skipped unsubscribed", st)
			}
			if got := s.sb.Calls()["push"].Outcomes; got["success"] < 4 || got["given_up"] != 0 {
				t.Fatalf("push outcomes %v", got)
			}
		})
	}
}

// waitGrant polls our grant of the order template for the user.
func (s *stack) waitGrant(user, want string) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.ourGrants(user) != want {
		if time.Now().After(deadline) {
			s.t.Fatalf("grant of %s is %q; want %q", user, s.ourGrants(user), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
