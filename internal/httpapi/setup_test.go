package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/cmdtest"
	"wxnotify/internal/config"
	"wxnotify/internal/console"
	"wxnotify/internal/httpapi"
	"wxnotify/internal/httpapi/contract"
	"wxnotify/internal/identity"
	"wxnotify/internal/intake"
	"wxnotify/internal/ratelimit"
	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
	"wxnotify/internal/registry"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
	"wxnotify/internal/wechat"
	"wxnotify/internal/wxevent"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const (
	apiKey        = "order-service-key-0001"
	jwtSecret     = "jwt-signing-secret-at-least-32-bytes!"
	shopKey       = "shop-only-order-key-01"
	clubKey       = "club-only-order-key-01"
	clubPushToken = "wxnotify-club-push-token"
	adminUser     = "ops"
	adminPass     = "dashboard-password-1"
	pushToken     = "wxnotify-push-token"
	orderTmpl     = "Zx8qLtOrderArrived0000000000000000000000000"
	transitTpl    = "Zx8qLtTransitNotice000000000000000000000000"
)

// options change what setup builds.
type options struct {
	jwt         bool
	dashboard   bool
	loginPerMin int
	maxBody     int64
	redisURL    string   // a dedicated server's URL instead of a lent database
	proxies     []string // TrustedProxies
	pushAESKey  string   // with push on: safe mode
	push        bool     // serve /v1/wx/events with pushToken
	// twoApps adds the app "club" (sandboxtest.AppID2, push token
	// clubPushToken when push is on) beside "shop", with keys limited to
	// each: shopKey and clubKey. apiKey acts as both.
	twoApps     bool
	grantSource string
	sandboxMods []func(*sandbox.Config)
}

// env is the API on a test server, with its sandbox, Redis and captured logs.
type env struct {
	t      testing.TB
	url    string
	router *gin.Engine
	// client holds every answer to openapi.yaml (internal/httpapi/contract).
	client  *http.Client
	sb      *sandboxtest.Server
	rdb     redis.UniversalClient
	queue   *intake.Queue
	records *record.Store
	logs    *cmdtest.Output
}

func setup(t testing.TB, o options) *env {
	t.Helper()
	if o.twoApps {
		o.sandboxMods = append(o.sandboxMods, sandboxtest.TwoApps)
	}
	sb := sandboxtest.Start(t, o.sandboxMods...)
	url := o.redisURL
	if url == "" {
		url = redistest.Lend(t).URL()
	}
	target, err := redisconn.Parse(url, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	rdb := target.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	logs := &cmdtest.Output{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.loginPerMin == 0 {
		o.loginPerMin = 1000
	}
	if o.maxBody == 0 {
		o.maxBody = 64 << 10
	}
	prom := prometheus.NewRegistry()
	shop := testApp(t, "shop", sandboxtest.AppID, sandboxtest.AppSecret, task.QueueName, sb.URL, rdb)
	app, queue, records := shop.api, shop.queue, shop.records
	consoleApps := []console.App{shop.console}
	d := httpapi.Deps{
		Logger: log, Apps: []*httpapi.App{app},
		Limiter:  ratelimit.PerMinute(rdb, "wxnotify:test:login:", o.loginPerMin),
		APIKeys:  []string{apiKey, "order-service-key-0002"},
		Ready:    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Gatherer: prom, Metrics: httpapi.NewMetrics(prom),
		MaxBodyBytes: o.maxBody, StoreTimeout: time.Second, TrustedProxies: o.proxies,
	}
	if o.jwt {
		v, err := identity.NewVerifier(config.UserJWT{Secret: jwtSecret, Claim: "sub", Leeway: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		d.Identity = v
	}
	if o.push {
		v, err := wxevent.NewVerifier(pushToken, o.pushAESKey, sandboxtest.AppID)
		if err != nil {
			t.Fatal(err)
		}
		app.Events = v
	}
	if o.twoApps {
		served := testApp(t, "club", sandboxtest.AppID2, sandboxtest.AppSecret2, task.QueueName+"."+sandboxtest.AppID2, sb.URL, rdb)
		club := served.api
		club.APIKeys, app.APIKeys = []string{clubKey}, []string{shopKey}
		if o.push {
			if club.Events, err = wxevent.NewVerifier(clubPushToken, "", sandboxtest.AppID2); err != nil {
				t.Fatal(err)
			}
		}
		d.Apps = append(d.Apps, club)
		consoleApps = append(consoleApps, served.console)
	}
	d.GrantSource = o.grantSource
	if d.GrantSource == "" {
		d.GrantSource = "client"
	}
	if o.dashboard {
		dash := httpapi.NewDashboard(target.AsynqOpt(), !o.jwt)
		t.Cleanup(func() { _ = dash.Close() })
		d.Dashboard, d.AdminUser, d.AdminPassword = dash, adminUser, adminPass
		d.Console = newConsole(t, log, consoleApps)
	}
	router, err := httpapi.New(d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, router: router, client: contract.Client(t, 0), sb: sb, rdb: rdb, queue: queue, records: records, logs: logs}
}

// servedApp is one test app: what the routes serve, its queue, and the
// console's readers of the same stores.
type servedApp struct {
	api     *httpapi.App
	queue   *intake.Queue
	records *record.Store
	console console.App
}

// testApp is one mini program of the sandbox, served from its own keys in rdb.
func testApp(t testing.TB, name, appID, secret, queueName, sandboxURL string, rdb redis.UniversalClient) servedApp {
	wc, err := wechat.New(wechat.Config{AppID: appID, AppSecret: secret, BaseURL: sandboxURL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	users := subscriber.New(rdb, appID, 24*time.Hour)
	records := record.NewStore(rdb, appID, time.Hour)
	queue := intake.New(rdb, records, queueName, 5)
	return servedApp{
		api: &httpapi.App{
			Name: name, AppID: appID, Registry: registry.Default(), WeChat: wc, Users: users, Intake: queue, Records: records,
		},
		queue:   queue,
		records: records,
		console: consoleApp(rdb, name, appID, queueName, queue, records, users),
	}
}

// reply is an HTTP answer with its decoded JSON.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// errCode and errField read the error body.
func (r reply) errCode() string  { return str(r.body, "error", "code") }
func (r reply) errField() string { return str(r.body, "error", "field") }

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

// do sends a request; body is marshalled unless it is a string (sent raw).
func (e *env) do(method, path, auth string, body any) reply {
	e.t.Helper()
	return e.doAs("application/json", method, path, auth, body)
}

// doAs is do with the body labelled contentType (none when empty).
func (e *env) doAs(contentType, method, path, auth string, body any) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return e.send(req)
}

// send makes req and reads the reply.
func (e *env) send(req *http.Request) reply {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (e *env) want(r reply, status int, code string) {
	e.t.Helper()
	if r.status != status || (code != "" && r.errCode() != code) {
		e.t.Fatalf("got %d %s; want %d %s", r.status, r.raw, status, code)
	}
	if status >= 400 && (r.errCode() == "" || str(r.body, "error", "message") == "") {
		e.t.Fatalf("error answer %s lacks error.code or error.message", r.raw)
	}
}

// login plays a mini program user logging in and returns the session token
// and the user's openid.
func (e *env) login(auth string) (token, openid string) {
	e.t.Helper()
	code, openid := e.sb.Login("", "", false)
	r := e.do("POST", "/v1/wx/login", auth, map[string]string{"code": code})
	e.want(r, 200, "")
	return str(r.body, "session_token"), openid
}

func bearer(token string) string { return "Bearer " + token }

// orderRequest is a valid order_arrived notification for user.
func orderRequest(user, dedupe string) map[string]any {
	return map[string]any{
		"template": "order_arrived", "user_id": user, "dedupe_key": dedupe,
		"data": map[string]any{
			"item_name": "牛肉面 x2", "order_id": "TX20261124001",
			"arrived_at": "2026-11-24T07:01:00Z", "pickup_location": "3号楼前台",
		},
	}
}

// taskPayload reads the payload the API enqueued for id.
func (e *env) taskPayload(id string) task.Payload {
	e.t.Helper()
	info, err := asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(task.QueueName, task.TaskID(id))
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := task.Decode(info.Payload)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}
