package httpapi_test

import (
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/task"
	"wxnotify/internal/wxevent"
)

// Each app's requests are served from that app alone; these tests name the
// ways one could reach another's data and check that none does.

func TestASessionIsValidInItsAppOnly(t *testing.T) {
	t.Parallel()
	e := setup(t, options{twoApps: true})
	club, err := e.sb.App(sandboxtest.AppID2)
	if err != nil {
		t.Fatal(err)
	}
	// The same person's openid string in both apps: two users all the same.
	const openid = "o-same-person-in-both-apps-00000"
	code, _ := e.sb.Login(openid, "", false)
	shopLogin := e.do("POST", "/v1/wx/login", "", map[string]string{"code": code, "appid": sandboxtest.AppID})
	e.want(shopLogin, 200, "")
	code, _ = club.Login(openid, "", false)
	clubLogin := e.do("POST", "/v1/wx/login", "", map[string]string{"code": code, "appid": sandboxtest.AppID2})
	e.want(clubLogin, 200, "")
	shopToken, clubToken := str(shopLogin.body, "session_token"), str(clubLogin.body, "session_token")
	if !strings.HasPrefix(shopToken, sandboxtest.AppID+".") || !strings.HasPrefix(clubToken, sandboxtest.AppID2+".") {
		t.Fatalf("session tokens %q, %q; want each prefixed by its appid", shopToken, clubToken)
	}

	accept := map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"}
	e.want(e.do("POST", "/v1/subscriptions", bearer(shopToken), accept), 200, "")
	if got := remaining(e.do("GET", "/v1/subscriptions", bearer(shopToken), nil)); got != 1 {
		t.Fatalf("shop grants %d; want 1", got)
	}
	if got := remaining(e.do("GET", "/v1/subscriptions", bearer(clubToken), nil)); got != 0 {
		t.Fatalf("club grants %d after the user accepted in shop; want 0: grants are per app", got)
	}

	// A shop session presented as club's is no session at all.
	_, raw, _ := strings.Cut(shopToken, ".")
	e.want(e.do("GET", "/v1/subscriptions", bearer(sandboxtest.AppID2+"."+raw), nil), 401, "invalid_session")
	e.want(e.do("POST", "/v1/subscriptions", bearer(sandboxtest.AppID2+"."+raw), accept), 401, "invalid_session")
	e.want(e.do("GET", "/v1/subscriptions", bearer("wx9999999999999999."+raw), nil), 401, "invalid_session")

	// The login names its app; a code is its app's only.
	code, _ = club.Login("", "", false)
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": code}), 400, "invalid_field")
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": code, "appid": "wx9999999999999999"}), 400, "unknown_app")
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": code, "appid": sandboxtest.AppID}), 401, "invalid_code")
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": code, "appid": sandboxtest.AppID2}), 200, "")
}

// remaining is the order_arrived grants a /v1/subscriptions answer shows.
func remaining(r reply) int {
	for _, g := range r.body["grants"].([]any) {
		g := g.(map[string]any)
		if g["template"] == "order_arrived" {
			n, _ := g["remaining"].(float64)
			return int(n)
		}
	}
	return -1
}

func TestAnAPIKeyActsAsItsAppsOnly(t *testing.T) {
	t.Parallel()
	e := setup(t, options{twoApps: true})
	as := func(app string, body map[string]any) map[string]any {
		if app != "" {
			body["app"] = app
		}
		return body
	}
	// A key limited to club cannot send as shop, by name or appid, nor as an app that does not exist.
	for _, app := range []string{"shop", sandboxtest.AppID, "nowhere"} {
		e.want(e.do("POST", "/v1/notifications", bearer(clubKey), as(app, orderRequest("u-1", "order-1"))), 403, "app_forbidden")
	}
	// Its own app needs no name.
	club := e.do("POST", "/v1/notifications", bearer(clubKey), orderRequest("u-1", "order-1"))
	e.want(club, 202, "")
	// A key of every app must name one; the same dedupe key in another app is another notification.
	e.want(e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-1", "order-1")), 400, "invalid_field")
	e.want(e.do("POST", "/v1/notifications", bearer(apiKey), as("nowhere", orderRequest("u-1", "order-1"))), 400, "unknown_app")
	shop := e.do("POST", "/v1/notifications", bearer(apiKey), as("shop", orderRequest("u-1", "order-1")))
	e.want(shop, 202, "")
	e.want(e.do("POST", "/v1/notifications", bearer(shopKey), orderRequest("u-1", "order-1")), 200, "") // shop's duplicate
	if str(shop.body, "duplicate") == "true" || shop.body["duplicate"] == true {
		t.Fatalf("shop's order-1 answered as a duplicate of club's: %s", shop.raw)
	}

	// Each went to its app's queue, for the worker to send with that app's token.
	ins := asynq.NewInspectorFromRedisClient(e.rdb)
	for queue, want := range map[string]int{task.QueueName: 1, task.QueueName + "." + sandboxtest.AppID2: 1} {
		if tasks, err := ins.ListPendingTasks(queue); err != nil || len(tasks) != want {
			t.Errorf("queue %s: %d tasks (%v); want %d", queue, len(tasks), err, want)
		}
	}

	// Reads are per app too: club's key sees club's notification and user only.
	id := str(club.body, "id")
	e.want(e.do("GET", "/v1/notifications/"+id, bearer(clubKey), nil), 200, "")
	e.want(e.do("GET", "/v1/notifications/"+id+"?app=shop", bearer(clubKey), nil), 403, "app_forbidden")
	e.want(e.do("GET", "/v1/users/u-1/notifications?app=shop", bearer(clubKey), nil), 403, "app_forbidden")
	e.want(e.do("GET", "/v1/notifications?template=order_arrived&dedupe_key=order-1&app=shop", bearer(clubKey), nil), 403, "app_forbidden")
	e.want(e.do("GET", "/v1/notifications/"+id, bearer(apiKey), nil), 400, "invalid_field")
	// The same user id in both apps is two users: each app lists its own.
	for key, app := range map[string]string{clubKey: "", apiKey: "shop"} {
		r := e.do("GET", "/v1/users/u-1/notifications?app="+app, bearer(key), nil)
		e.want(r, 200, "")
		if list := r.body["notifications"].([]any); len(list) != 1 {
			t.Errorf("app %q: user u-1 lists %d notifications; want its own 1", app, len(list))
		}
	}
	st := e.do("GET", "/v1/notifications/"+id+"?app="+sandboxtest.AppID, bearer(apiKey), nil)
	e.want(st, 200, "")
	if str(st.body, "dedupe_key") != "order-1" || len(st.body["history"].([]any)) != 0 {
		t.Fatalf("shop's record under the shared id: %s", st.raw)
	}
}

func TestAPushIsVerifiedWithItsAppsTokenOnly(t *testing.T) {
	t.Parallel()
	e := setup(t, options{twoApps: true, push: true})
	popupFor := popup("o-club-user-00000000000000000000", 1700000001, "accept")
	if status, _ := e.pushTo("/v1/wx/events/club", pushToken, popupFor); status != 401 {
		t.Errorf("shop's token at club's URL: %d; want 401", status)
	}
	if status, _ := e.pushTo("/v1/wx/events", clubPushToken, popupFor); status != 401 {
		t.Errorf("club's token at the first app's URL: %d; want 401", status)
	}
	if status, body := e.pushTo("/v1/wx/events/nowhere", clubPushToken, popupFor); status != 404 {
		t.Errorf("an app not served: %d %s; want 404", status, body)
	}
	if status, body := e.pushTo("/v1/wx/events/club", clubPushToken, popupFor); status != 200 || body != "success" {
		t.Fatalf("club's push at club's URL: %d %s; want 200 success", status, body)
	}
	// Named by its appid, as the sandbox's {appid} placeholder names it:
	// the same app, verified with its own token only.
	if status, body := e.pushTo("/v1/wx/events/"+sandboxtest.AppID2, clubPushToken, popupFor); status != 200 || body != "success" {
		t.Errorf("club's push at its appid's URL: %d %s; want 200 success", status, body)
	}
	if status, _ := e.pushTo("/v1/wx/events/"+sandboxtest.AppID2, pushToken, popupFor); status != 401 {
		t.Errorf("shop's token at club's appid's URL: %d; want 401", status)
	}
	// WeChat's URL check too: each URL answers its own token's signature.
	q := url.Values{"timestamp": {"1700000000"}, "nonce": {"n1"}, "echostr": {"e-1"}}
	q.Set("signature", wxevent.Sign(pushToken, "1700000000", "n1"))
	e.want(e.do("GET", "/v1/wx/events/club?"+q.Encode(), "", nil), 401, "bad_signature")
	e.want(e.do("GET", "/v1/wx/events/shop?"+q.Encode(), "", nil), 200, "")
}

// pushTo sends a JSON push to path, signed with token.
func (e *env) pushTo(path, token, body string) (int, string) {
	e.t.Helper()
	q := url.Values{"timestamp": {"1700000000"}, "nonce": {"n1"}}
	q.Set("signature", wxevent.Sign(token, "1700000000", "n1"))
	resp, err := e.client.Post(e.url+path+"?"+q.Encode(), "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
