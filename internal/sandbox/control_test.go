package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
)

// The whole user side over HTTP: wx.login, accept, and the inbox.
func TestControlEndpointsPlayTheUser(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var minted struct{ Code, OpenID string }
	a := f.do(t, "POST", "/sandbox/login", map[string]any{"unionid": "u-1"})
	if err := json.Unmarshal([]byte(a.raw), &minted); err != nil || minted.Code == "" || len(minted.OpenID) != 28 {
		t.Fatalf("POST /sandbox/login: %s; want a code and a new 28-character openid", a.raw)
	}
	sess := f.do(t, "GET", "/sns/jscode2session?appid="+appID+"&secret="+secret+"&grant_type=authorization_code&js_code="+minted.Code, nil)
	if sess.OpenID != minted.OpenID || !strings.HasPrefix(sess.contentType, "text/plain") || strings.Contains(sess.raw, "errcode") {
		t.Fatalf("jscode2session: %s (%s); want the openid, as text/plain, without errcode", sess.raw, sess.contentType)
	}

	sub := f.do(t, "POST", "/sandbox/subscriptions", map[string]any{"openid": minted.OpenID, "template_id": f.order.ID, "action": "accept", "count": 2})
	if !strings.Contains(sub.raw, `"grants":2`) {
		t.Fatalf("accept ×2: %s", sub.raw)
	}
	if bad := f.do(t, "POST", "/sandbox/subscriptions", map[string]any{"openid": minted.OpenID, "template_id": "nope"}); !strings.Contains(bad.raw, `template \"nope\" is not defined`) {
		t.Fatalf("unknown template: %s", bad.raw)
	}

	tok := f.stable(t, false).AccessToken
	wantCode(t, "send", f.send(t, tok, f.orderBody(minted.OpenID)), 0)
	inbox := f.do(t, "GET", "/sandbox/messages?openid="+minted.OpenID, nil)
	var got struct {
		Delivered int
		Messages  []sandbox.Message
	}
	_ = json.Unmarshal([]byte(inbox.raw), &got)
	if got.Delivered != 1 || len(got.Messages) != 1 || got.Messages[0].Data["thing1"] != "牛肉面 x2" {
		t.Fatalf("inbox: %s", inbox.raw)
	}
	if other := f.do(t, "GET", "/sandbox/messages?openid=o-someone-else", nil); !strings.Contains(other.raw, `"messages":[]`) {
		t.Fatalf("inbox filtered to another user: %s", other.raw)
	}

	blocked := f.do(t, "POST", "/sandbox/login", map[string]any{"blocked": true})
	_ = json.Unmarshal([]byte(blocked.raw), &minted)
	wantCode(t, "blocked user's code", f.do(t, "GET", "/sns/jscode2session?appid="+appID+"&secret="+secret+"&grant_type=authorization_code&js_code="+minted.Code, nil), 40226)

	calls := f.do(t, "GET", "/sandbox/calls", nil)
	var counts map[string]sandbox.CallCount
	_ = json.Unmarshal([]byte(calls.raw), &counts)
	if counts["jscode2session"].Calls != 2 || counts["jscode2session"].Outcomes["40226"] != 1 || counts["subscribe_send"].Outcomes["0"] != 1 {
		t.Fatalf("call counts: %s", calls.raw)
	}
}

func TestFaultsAreSetAtRunTime(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tok := f.stable(t, false).AccessToken
	openid := f.subscriber(t, 5)

	bad := f.do(t, "PUT", "/sandbox/faults", map[string]any{"http_500_rate": 2})
	if !strings.Contains(bad.raw, "http_500_rate 2 is not a probability") {
		t.Fatalf("PUT bad faults: %s", bad.raw)
	}
	if bad := f.do(t, "PUT", "/sandbox/faults", map[string]any{"endpoints": []string{"send"}}); !strings.Contains(bad.raw, `unknown endpoint \"send\"`) {
		t.Fatalf("PUT faults for an unknown endpoint: %s", bad.raw)
	}

	// A script answers the next calls of its endpoint, once each, in order.
	f.do(t, "PUT", "/sandbox/faults", map[string]any{"script": []map[string]any{
		{"endpoint": "subscribe_send", "errcode": -1}, {"endpoint": "subscribe_send", "errcode": 45011},
	}})
	wantCode(t, "first scripted", f.send(t, tok, f.orderBody(openid)), -1)
	wantCode(t, "token endpoint untouched by a send script", f.stable(t, false), 0)
	wantCode(t, "second scripted", f.send(t, tok, f.orderBody(openid)), 45011)
	wantCode(t, "script used up", f.send(t, tok, f.orderBody(openid)), 0)

	// Rates, limited to one endpoint.
	f.do(t, "PUT", "/sandbox/faults", map[string]any{"busy_rate": 1, "endpoints": []string{"subscribe_send"}})
	wantCode(t, "busy send", f.send(t, tok, f.orderBody(openid)), -1)
	wantCode(t, "token endpoint outside the fault's endpoints", f.stable(t, false), 0)
	if got := f.sb.Faults(); got.BusyRate != 1 || len(got.Endpoints) != 1 {
		t.Fatalf("Faults() = %+v", got)
	}

	f.do(t, "PUT", "/sandbox/faults", map[string]any{"http_500_rate": 1})
	if a := f.stable(t, false); !strings.Contains(a.raw, "500 Internal Server Error") {
		t.Fatalf("HTTP 500 fault answered %s", a.raw)
	}
	f.do(t, "PUT", "/sandbox/faults", map[string]any{"latency": "80ms"})
	start := time.Now()
	wantCode(t, "slow send", f.send(t, tok, f.orderBody(openid)), 0)
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Fatalf("send with 80ms latency took %s", took)
	}
	if grants := f.sb.Grants(openid, f.order.ID); grants != 3 {
		t.Fatalf("grants %d; want 3 (2 successes from 5; faults spend none)", grants)
	}
}

// A lost reply delivers the message and spends the grant, then never
// answers: the ambiguity a real timeout leaves behind.
func TestLostReplyDeliversWithoutAnswering(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *sandbox.Config) {
		c.Faults = sandbox.Faults{LostReplyRate: 1, Endpoints: []string{sandbox.EndpointSend}}
	})
	tok := f.stable(t, false).AccessToken
	openid := f.subscriber(t, 1)
	body, _ := json.Marshal(f.orderBody(openid))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", f.url+"/cgi-bin/message/subscribe/send?access_token="+tok, strings.NewReader(string(body)))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a lost reply answered")
	}
	if n := len(f.sb.Messages(openid, "")); n != 1 {
		t.Fatalf("%d messages delivered; want 1 despite the lost reply", n)
	}
	if g := f.sb.Grants(openid, f.order.ID); g != 0 {
		t.Fatalf("grants %d; want the one grant spent", g)
	}
}
