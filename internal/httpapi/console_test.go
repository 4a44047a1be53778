package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/accesstoken"
	"wxnotify/internal/console"
	"wxnotify/internal/intake"
	"wxnotify/internal/ratelimit"
	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
	"wxnotify/internal/registry"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
	"wxnotify/internal/webhook"
	"wxnotify/internal/webhook/webhooktest"
	"wxnotify/internal/wechat"
)

// consoleApp is an app as program.API gives it to the console, on the
// test's Redis; the workers' send rate is 500.
func consoleApp(rdb redis.UniversalClient, name, appID, queueName string, queue *intake.Queue, records *record.Store, users *subscriber.Store) console.App {
	return console.App{
		Name: name, AppID: appID, Queue: queueName, Registry: registry.Default(), Notifications: records, QueueInfo: queue.QueueInfo, TaskInfo: queue.TaskInfo, Users: users,
		Token: func(ctx context.Context) (accesstoken.Health, error) { return accesstoken.ReadHealth(ctx, rdb, appID) },
		SendBacklog: func(ctx context.Context) (time.Duration, error) {
			return ratelimit.Backlog(ctx, rdb, "wxnotify:"+appID+":send:", appID)
		},
		SendRate:     func(context.Context) (int, error) { return 500, nil },
		WebhookQueue: webhook.Queue(appID),
		DeadWebhooks: func(ctx context.Context, page int) ([]webhook.Dead, error) {
			return webhook.DeadList(ctx, asynq.NewInspectorFromRedisClient(rdb), webhook.Queue(appID), page)
		},
	}
}

// newConsole is the console of apps.
func newConsole(t testing.TB, log *slog.Logger, apps []console.App) *console.Console {
	t.Helper()
	c, err := console.New(console.Deps{Logger: log, Apps: apps, DashboardPath: "/admin/asynq"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// page is a console answer.
type page struct {
	status int
	header http.Header
	body   string
}

// page GETs path with the admin's credentials (none when auth is false).
func (e *env) page(path string, auth bool) page {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	if auth {
		req.SetBasicAuth(adminUser, adminPass)
	}
	r := e.send(req)
	return page{r.status, r.header, r.raw}
}

// seeded is what seedConsole wrote.
type seeded struct {
	user, openid, id, msgid string
	// bareOpenID is a user whose id is their openid (no USER_JWT), with
	// notification bareID.
	bareOpenID, bareID string
	// deadEvent is the id of the delivered notification's webhook event,
	// in the dead list.
	deadEvent string
}

// seedConsole writes through the real components what a day of wxnotify
// leaves: a bound user with grants and an unsubscribed template, a
// notification retried once then delivered with WeChat's sent event, and a
// user known only by openid.
func seedConsole(t *testing.T, e *env) seeded {
	t.Helper()
	ctx := context.Background()
	s := seeded{user: "shop-user-42", openid: "oCLEARopenidOfShopUser42xyzW", msgid: "msg-3141592653", bareOpenID: "oBAREopenidUsedAsUserIdQRST"}
	users := subscriber.New(e.rdb, sandboxtest.AppID, time.Hour)
	for _, b := range []subscriber.Binding{{UserID: s.user, OpenID: s.openid, BoundAt: time.Now()}, {UserID: s.bareOpenID, OpenID: s.bareOpenID, BoundAt: time.Now()}} {
		if _, err := users.Bind(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := users.Apply(ctx, s.user, []subscriber.Choice{{TemplateID: orderTmpl, Result: subscriber.Accept}, {TemplateID: orderTmpl, Result: subscriber.Accept}}); err != nil {
		t.Fatal(err)
	}
	if err := users.ApplyPush(ctx, s.user, []subscriber.Choice{{TemplateID: transitTpl, Result: subscriber.Reject}}, false, true); err != nil {
		t.Fatal(err)
	}
	p := task.Payload{Template: "order_arrived", TemplateID: orderTmpl, UserID: s.user, DedupeKey: "order-77",
		Data: map[string]string{"thing1": "x"}, CreatedAt: time.Now().UTC()}
	en, err := e.queue.Enqueue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	s.id = en.ID
	records := e.records
	link := records.LinkCall(s.id, s.msgid)
	if err := redisconn.RunScripts(ctx, e.rdb,
		records.RetryCall(s.id, record.Step{Outcome: "retried_busy", ErrCode: -1, Error: "wechat subscribeMessage.send: errcode -1: system error"}, time.Now().Add(time.Second), true),
		records.FinishCall(s.id, record.From(p, 5), record.Completed, record.Result{Status: record.Delivered, MsgID: s.msgid}, record.Step{Outcome: "delivered"}),
		link.Call); err != nil {
		t.Fatal(err)
	}
	if err := records.Apply(ctx, link); err != nil {
		t.Fatal(err)
	}
	if err := records.RecordWeChatResult(ctx, s.msgid, record.WeChatResult{ErrorStatus: "success", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	bare := task.Payload{Template: "order_arrived", TemplateID: orderTmpl, OpenID: s.bareOpenID, DedupeKey: "order-78",
		Data: map[string]string{"thing1": "x"}, CreatedAt: time.Now().UTC()}
	if en, err = e.queue.Enqueue(ctx, bare); err != nil {
		t.Fatal(err)
	}
	s.bareID = en.ID

	// The delivered notification's webhook event, dead.
	ev := webhook.Event{ID: webhook.EventID(s.id, record.Completed), Type: webhook.TypeCompleted, App: "default",
		Notification: webhook.Notification{ID: s.id, Template: "order_arrived", DedupeKey: "order-77", State: record.Completed}}
	webhooktest.Bury(t, e.rdb, sandboxtest.AppID, ev)
	s.deadEvent = ev.ID
	return s
}

// Every page, for real data: found by what the operator has, the story of
// the notification, the user's state — and never a clear openid.
func TestConsolePagesShowTheirData(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	s := seedConsole(t, e)
	visited := map[string]page{}
	get := func(path string) page {
		t.Helper()
		p := e.page(path, true)
		if p.status != http.StatusOK {
			t.Fatalf("GET %s: %d %.300s", path, p.status, p.body)
		}
		if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		visited[path] = p
		return p
	}
	has := func(p page, path string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(p.body, w) {
				t.Errorf("GET %s lacks %q", path, w)
			}
		}
	}
	link := `href="/admin/notifications/` + s.id + `"`
	t.Run("search", func(t *testing.T) {
		for _, q := range []string{"order-77", s.id, "/admin/?q=order-77&template=order_arrived"} {
			path := "/admin/?q=" + url.QueryEscape(q)
			if strings.HasPrefix(q, "/") {
				path = q
			}
			has(get(path), path, link)
		}
		path := "/admin/?q=" + s.user
		has(get(path), path, `href="/admin/users/`+s.user+`"`, "found by user id", link)
		path = "/admin/?q=" + s.openid
		p := get(path)
		has(p, path, `href="/admin/users/`+s.user+`"`, "found by openid "+wechat.MaskOpenID(s.openid))
		path = "/admin/?q=" + s.bareOpenID
		has(get(path), path, wechat.MaskOpenID(s.bareOpenID)+" (an openid, masked)", `href="/admin/notifications/`+s.bareID+`"`)
		path = "/admin/?q=nothing-by-this-name"
		has(get(path), path, "None.")
	})
	t.Run("timeline", func(t *testing.T) {
		path := "/admin/notifications/" + s.id
		has(get(path), path, "accepted", "retried_busy", "<code>-1</code>", "delivered", s.msgid,
			"sent event: <strong>success</strong>", wechat.MaskOpenID(s.openid), `href="/admin/users/`+s.user+`"`, "completed")
		path = "/admin/notifications/" + s.bareID
		has(get(path), path, "pending", wechat.MaskOpenID(s.bareOpenID)+" (an openid, masked)")
	})
	t.Run("user", func(t *testing.T) {
		path := "/admin/users/" + s.user
		has(get(path), path, wechat.MaskOpenID(s.openid), "order_arrived", orderTmpl, `<td class="num">2</td>`, transitTpl, link)
		path = "/admin/users/" + s.bareOpenID
		has(get(path), path, wechat.MaskOpenID(s.bareOpenID)+" (an openid, masked)", `href="/admin/notifications/`+s.bareID+`"`)
	})
	t.Run("health", func(t *testing.T) {
		path := "/admin/health"
		has(get(path), path, "Access token", "not recorded", "500 sends/s", "<td class=\"num\">2</td>", `href="/admin/asynq/"`)
	})
	t.Run("outcomes", func(t *testing.T) {
		path := "/admin/outcomes"
		has(get(path), path, "<svg", "order_arrived")
	})
	t.Run("webhooks", func(t *testing.T) {
		path := "/admin/webhooks"
		has(get(path), path, "<code>"+s.deadEvent+"</code>", link, "notification.completed",
			`href="/admin/asynq/queues/webhooks.`+sandboxtest.AppID+`?status=archived"`, `aria-current="page">Webhooks</a>`)
		path = "/admin/webhooks?page=2"
		has(get(path), path, "None on this page", `href="/admin/webhooks?page=1"`)
	})
	t.Run("stylesheet", func(t *testing.T) {
		p := e.page("/admin/console.css", true)
		if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") || !strings.Contains(p.body, ".c-delivered") {
			t.Fatalf("console.css: %d %s", p.status, p.header.Get("Content-Type"))
		}
	})
	t.Run("no secrets, no script, CSP", func(t *testing.T) {
		external := regexp.MustCompile(`(?i)(src|href|action)="(https?:)?//`)
		for path, p := range visited {
			for _, clear := range []string{s.openid, s.bareOpenID} {
				// The search by openid has it in its own URL, never in the page.
				if strings.Contains(p.body, clear) {
					t.Errorf("GET %s shows the clear openid %s", path, clear)
				}
			}
			if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src") && !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("GET %s: CSP %q", path, csp)
			}
			if strings.Contains(p.body, "<script") || strings.Contains(p.body, "style=") || external.MatchString(p.body) {
				t.Errorf("GET %s has a script, an inline style or an external URL", path)
			}
			if strings.Contains(p.body, "app=") || strings.Contains(p.body, `aria-label="Apps"`) {
				t.Errorf("GET %s: with one app, a link names it or the app switcher shows", path)
			}
		}
		if len(visited) < 14 {
			t.Fatalf("only %d pages checked", len(visited))
		}
	})
}

// The chart and the totals show what the worker counted: this hour's and
// the day's, per template and class.
func TestConsoleOutcomesShowTheCounts(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	records := record.NewStore(e.rdb, sandboxtest.AppID, time.Hour)
	now := time.Now()
	var calls []*redisconn.ScriptCall
	add := func(n int, template string, outcome record.Class, at time.Time) {
		for range n {
			calls = append(calls, records.CountCall(template, outcome, at))
		}
	}
	add(3, "order_arrived", "delivered", now)
	add(2, "order_arrived", "skipped_no_grant", now)
	add(1, "order_arrived", "retrying", now)
	add(4, "order_arrived", "delivered", now.Add(-5*time.Hour))
	add(1, "order_arrived", "archived", now.Add(-5*time.Hour))
	add(1, "order_arrived", "skipped_not_bound", now.Add(-30*time.Hour)) // past the day: not shown
	if err := redisconn.RunScripts(context.Background(), e.rdb, calls...); err != nil {
		t.Fatal(err)
	}
	p := e.page("/admin/outcomes", true)
	if p.status != 200 {
		t.Fatalf("outcomes: %d %s", p.status, p.body)
	}
	// Columns: delivered, no grant, not bound, other skips, retrying, archived, all.
	row := func(cells ...string) string {
		return `<td class="num">` + strings.Join(cells, `</td><td class="num">`) + `</td></tr>`
	}
	for _, want := range []string{
		`<th>last hour</th>` + row("3", "2", "0", "0", "1", "0", "6"),
		`<th>last day</th>` + row("7", "2", "0", "0", "1", "1", "11"),
		`<rect class="c-delivered"`, `<title>delivered: 3</title>`, `<title>delivered: 4</title>`,
		`<title>archived: 1</title>`, `<title>skipped: no grant: 2</title>`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("outcomes page lacks %s", want)
		}
	}
	if n := strings.Count(p.body, `<rect class="c-`); n != 6+5 { // the legend's six, this hour's three, five hours ago's two
		t.Errorf("%d rectangles; want 11", n)
	}
}

// Bad input is a 400, an unknown id a 404, no credentials a 401 — never a
// 500 — and what the operator typed comes back escaped.
func TestConsoleRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	for path, want := range map[string]int{
		"/admin/":                              401,
		"/admin/notifications/order_arrived-0": 401,
		"/admin/outcomes":                      401,
	} {
		if p := e.page(path, false); p.status != want || p.header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without credentials: %d; want %d asking for them", path, p.status, want)
		}
	}
	for path, want := range map[string]int{
		"/admin/notifications/order_arrived-" + strings.Repeat("0", 32): 404,
		"/admin/notifications/not-an-id":                                400,
		"/admin/notifications/%3Cscript%3E":                             400,
		"/admin/users/nobody-here":                                      404,
		"/admin/users/has%20space":                                      400,
		"/admin/users/" + strings.Repeat("u", 129):                      400,
		"/admin/?q=x&template=no_such_template":                         400,
		"/admin/?q=" + strings.Repeat("q", 300):                         400,
		"/admin/?q=%01":                                                 400,
		"/admin/webhooks?page=0":                                        400,
		"/admin/webhooks?page=x":                                        400,
	} {
		p := e.page(path, true)
		if p.status != want {
			t.Errorf("GET %s: %d; want %d", path, p.status, want)
		}
		if p.header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no CSP on the error page", path)
		}
	}
	p := e.page("/admin/?q="+url.QueryEscape(`<script>alert(1)</script>`), true)
	if p.status != 200 || strings.Contains(p.body, "<script>") || !strings.Contains(p.body, "&lt;script&gt;") {
		t.Fatalf("a query with markup: %d, escaped: %v", p.status, strings.Contains(p.body, "&lt;script&gt;"))
	}
}

// With Redis stopped every console page answers 503 quickly, never a 500.
func TestConsoleRedisStoppedAnswers503(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.Config{})
	e := setup(t, options{dashboard: true, redisURL: srv.URL(0)})
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/admin/?q=order-1", "/admin/notifications/order_arrived-" + strings.Repeat("0", 32),
		"/admin/users/u-1", "/admin/outcomes", "/admin/health", "/admin/webhooks"} {
		start := time.Now()
		p := e.page(path, true)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("GET %s took %s with Redis down", path, took)
		}
		if p.status != 503 || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Redis did not answer") {
			t.Errorf("GET %s with Redis down: %d; want 503 with Retry-After", path, p.status)
		}
	}
}

// With two apps the console shows one at a time, picked by ?app= and kept
// in every link: the same dedupe key in each app is that app's
// notification, for that app's user; one app's user is not found through
// the other; an app not served is a 404 page naming it.
func TestConsoleServesEachApp(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true, twoApps: true})
	ctx := context.Background()
	apps := []struct{ name, appID, queue, user string }{
		{"shop", sandboxtest.AppID, task.QueueName, "shop-buyer-7"},
		{"club", sandboxtest.AppID2, task.QueueName + "." + sandboxtest.AppID2, "club-member-9"},
	}
	var id string
	openid := func(app string) string { return "o-" + app + "-openid-of-its-member-0000" }
	for _, a := range apps {
		b := subscriber.Binding{UserID: a.user, OpenID: openid(a.name), BoundAt: time.Now()}
		if _, err := subscriber.New(e.rdb, a.appID, time.Hour).Bind(ctx, b); err != nil {
			t.Fatal(err)
		}
		body := orderRequest(a.user, "order-in-both-apps")
		body["app"] = a.name
		r := e.do("POST", "/v1/notifications", bearer(apiKey), body)
		e.want(r, 202, "")
		if id != "" && str(r.body, "id") != id {
			t.Fatalf("the same dedupe key has ids %s and %s", id, str(r.body, "id"))
		}
		id = str(r.body, "id")
	}
	// Club alone delivered one.
	if err := redisconn.RunScripts(ctx, e.rdb, record.NewStore(e.rdb, sandboxtest.AppID2, time.Hour).CountCall("order_arrived", "delivered", time.Now())); err != nil {
		t.Fatal(err)
	}
	get := func(path string, status int) string {
		t.Helper()
		p := e.page(path, true)
		if p.status != status {
			t.Fatalf("GET %s: %d; want %d (%.300s)", path, p.status, status, p.body)
		}
		for _, a := range apps {
			if strings.Contains(p.body, openid(a.name)) {
				t.Errorf("GET %s shows %s's clear openid", path, a.name)
			}
		}
		return p.body
	}
	check := func(path, body string, wants, unwanted []string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %s", path, w)
			}
		}
		for _, u := range unwanted {
			if strings.Contains(body, u) {
				t.Errorf("GET %s has %s", path, u)
			}
		}
	}
	for i, a := range apps {
		o := apps[1-i]
		timeline := `href="/admin/notifications/` + id + `?app=` + a.name + `"`
		path := "/admin/?q=order-in-both-apps&app=" + a.name
		check(path, get(path, 200), []string{
			timeline,
			`<title>Search · ` + a.name + ` · wxnotify console</title>`,
			`<form method="post" action="/admin/?app=` + a.name + `" class="search">`,
			`<a href="/admin/?app=` + a.name + `" title="appid ` + a.appID + `" aria-current="true">` + a.name + `</a>`,
			`<a href="/admin/?app=` + o.name + `" title="appid ` + o.appID + `">` + o.name + `</a>`,
			`href="/admin/outcomes?app=` + a.name + `"`, `href="/admin/health?app=` + a.name + `"`,
		}, []string{`href="/admin/notifications/` + id + `?app=` + o.name})

		path = "/admin/notifications/" + id + "?app=" + a.name
		check(path, get(path, 200), []string{`href="/admin/users/` + a.user + `?app=` + a.name + `"`}, []string{o.user})

		path = "/admin/users/" + a.user + "?app=" + a.name
		check(path, get(path, 200), []string{timeline}, nil)

		// The other app's user, by user id: not here.
		path = "/admin/?q=" + o.user + "&app=" + a.name
		check(path, get(path, 200), []string{"None."}, []string{`href="/admin/users/`, `href="/admin/notifications/`})
		path = "/admin/users/" + o.user + "?app=" + a.name
		check(path, get(path, 404), []string{`<a href="/admin/?app=` + a.name + `">Back to search</a>`}, nil)

		path = "/admin/health?app=" + a.name
		check(path, get(path, 200), []string{"Queue <code>" + a.queue + "</code>", `aria-current="true">` + a.name + `</a>`,
			`<a href="/admin/health?app=` + o.name + `" title=`}, nil)

		path = "/admin/webhooks?app=" + a.name
		check(path, get(path, 200), []string{`href="/admin/asynq/queues/webhooks.` + a.appID + `?status=archived"`,
			`<a href="/admin/webhooks?app=` + o.name + `" title=`}, nil)

		path = "/admin/outcomes?app=" + a.name
		delivered := []string{"<title>delivered: 1</title>"}
		if a.name == "club" {
			check(path, get(path, 200), delivered, nil)
		} else {
			check(path, get(path, 200), nil, delivered)
		}
	}
	// Without ?app=, the first app; an app not served is a 404 naming it,
	// and the switcher leads back.
	path := "/admin/?q=order-in-both-apps"
	check(path, get(path, 200), []string{`href="/admin/notifications/` + id + `?app=shop"`}, nil)
	for _, path := range []string{"/admin/?app=nowhere", "/admin/outcomes?app=nowhere", "/admin/notifications/" + id + "?app=nowhere"} {
		check(path, get(path, 404), []string{"No app named nowhere", `<a href="/admin/?app=club" title=`}, []string{`aria-current="true"`})
	}
}
