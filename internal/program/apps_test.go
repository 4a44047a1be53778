package program

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
)

// appsStack runs the api and workers for two mini programs from one
// APPS_FILE: shop (the sandbox's first app) and club (its second).
func appsStack(t *testing.T, workers int, mods ...func(*sandbox.Config)) *stack {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "club.secret"), []byte(sandboxtest.AppSecret2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apps := filepath.Join(dir, "apps.yaml")
	if err := os.WriteFile(apps, []byte(`apps:
  - name: shop
    appid: `+sandboxtest.AppID+`
    secret: {env: SHOP_APP_SECRET}
  - name: club
    appid: `+sandboxtest.AppID2+`
    secret: {file: club.secret}
    send_rate_per_second: 100
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return newStackEnv(t, workers, map[string]string{
		"APPS_FILE": apps, "SHOP_APP_SECRET": sandboxtest.AppSecret, "WECHAT_APPID": "", "WECHAT_APP_SECRET": "",
	}, append([]func(*sandbox.Config){sandboxtest.TwoApps}, mods...)...)
}

// appUser logs a new user of app in (the mini program names its appid)
// with one grant at WeChat and in wxnotify, and returns the user id.
func (s *stack) appUser(app *sandbox.MiniProgram) string {
	s.t.Helper()
	code, openid := app.Login("", "", false)
	st, body := s.call("POST", "/v1/wx/login", "", map[string]string{"code": code, "appid": app.AppID()})
	if st != 200 {
		s.t.Fatalf("login to %s: %d %v", app.AppID(), st, body)
	}
	if _, err := app.Subscribe(openid, orderTmpl, sandbox.Accept, 1); err != nil {
		s.t.Fatal(err)
	}
	st, body = s.call("POST", "/v1/subscriptions", body["session_token"].(string), map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"})
	if st != 200 {
		s.t.Fatalf("subscriptions: %d %v", st, body)
	}
	return openid
}

// One worker pool serves both apps, each with its own token, and WeChat's
// daily quota running out for one app leaves the other's sends untouched.
func TestAppsShareTheWorkersNotTheirQuotas(t *testing.T) {
	t.Parallel()
	const quota = 3
	s := appsStack(t, 2, func(c *sandbox.Config) { c.Quotas.SendPerDay = quota })
	shop, err := s.sb.App(sandboxtest.AppID)
	if err != nil {
		t.Fatal(err)
	}
	club, err := s.sb.App(sandboxtest.AppID2)
	if err != nil {
		t.Fatal(err)
	}
	post := func(app, user, dedupe string) string {
		st, out := s.call("POST", "/v1/notifications", e2eKey, map[string]any{
			"app": app, "template": "order_arrived", "user_id": user, "dedupe_key": dedupe, "data": orderData()})
		if st != 202 {
			s.t.Fatalf("notify %s: %d %v", app, st, out)
		}
		return out["id"].(string)
	}
	// shop posts twice its quota first, then club its quota.
	var shopUsers, clubIDs []string
	for i := range 2 * quota {
		u := s.appUser(shop)
		shopUsers = append(shopUsers, u)
		post("shop", u, fmt.Sprintf("order-%d", i))
	}
	var clubUsers []string
	for i := range quota {
		u := s.appUser(club)
		clubUsers = append(clubUsers, u)
		clubIDs = append(clubIDs, post("club", u, fmt.Sprintf("order-%d", i)))
	}
	for _, id := range clubIDs {
		st, ok := s.finishedWithin(id+"?app=club", 10*time.Second)
		if !ok || st["state"] != "completed" || result(st, "status") != "delivered" {
			t.Fatalf("club's %s: %v; want delivered while shop's quota is spent", id, st)
		}
	}
	for _, u := range clubUsers {
		if n := len(club.Messages(u, orderTmpl)); n != 1 {
			t.Errorf("club user %s received %d messages; want 1", u, n)
		}
	}
	// shop: its quota's worth delivered, the rest waiting for tomorrow, none lost or archived.
	delivered := 0
	for _, u := range shopUsers {
		delivered += len(shop.Messages(u, orderTmpl))
	}
	if delivered != quota {
		t.Errorf("shop delivered %d; want its quota %d", delivered, quota)
	}
	// Each app fetched its own token once, whatever the number of workers.
	if n := s.sb.CallsTo(sandbox.EndpointStableToken); n != 2 {
		t.Errorf("stable_token called %d times; want once per app", n)
	}
	// The workers' metrics tell the apps apart.
	counts := map[string]int{}
	for _, w := range s.workers {
		_, metrics := get(t, w.addr+"/metrics")
		for _, line := range strings.Split(metrics, "\n") {
			for _, app := range []string{"shop", "club"} {
				var n int
				if _, err := fmt.Sscanf(line, `wxnotify_deliveries_total{app="`+app+`",outcome="delivered",template="order_arrived"} %d`, &n); err == nil {
					counts[app] += n
				}
			}
		}
	}
	if counts["shop"] != quota || counts["club"] != quota {
		t.Errorf("delivered by app in the workers' metrics: %v; want %d each", counts, quota)
	}
}
