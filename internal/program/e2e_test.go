package program

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/httpapi/contract"
	"wxnotify/internal/redistest"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
)

const (
	e2eKey    = "order-service-key-0001"
	orderTmpl = "Zx8qLtOrderArrived0000000000000000000000000"
)

// stack is the whole system: sandbox, Redis, the api and worker programs.
type stack struct {
	t       *testing.T
	sb      *sandboxtest.Server
	rdb     redis.UniversalClient
	api     *running
	workers []*running
	env     map[string]string
}

func newStack(t *testing.T, workers int, mods ...func(*sandbox.Config)) *stack {
	t.Helper()
	return newStackEnv(t, workers, nil, mods...)
}

// newStackEnv is newStack with environment overrides for the programs.
func newStackEnv(t *testing.T, workers int, extra map[string]string, mods ...func(*sandbox.Config)) *stack {
	t.Helper()
	sb := sandboxtest.Start(t, append([]func(*sandbox.Config){sandboxtest.RealTime}, mods...)...)
	db := redistest.Lend(t)
	env := programEnv(sb, db.URL())
	for k, v := range extra {
		env[k] = v
	}
	var rdb redis.UniversalClient = db.Client(t)
	if extra["REDIS_URL"] != "" {
		opt, err := redis.ParseURL(extra["REDIS_URL"])
		if err != nil {
			t.Fatal(err)
		}
		rdb = redis.NewClient(opt)
		t.Cleanup(func() { _ = rdb.Close() })
	}
	s := &stack{t: t, sb: sb, rdb: rdb, env: env}
	s.api = launch(t, API, env, "api listening")
	for range workers {
		s.workers = append(s.workers, launch(t, Worker, env, "worker running"))
	}
	return s
}

// programEnv is the environment the tests run api and worker with.
func programEnv(sb *sandboxtest.Server, redisURL string) map[string]string {
	return map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "WORKER_HTTP_ADDR": "127.0.0.1:0", "REDIS_URL": redisURL,
		"WECHAT_APPID": sandboxtest.AppID, "WECHAT_APP_SECRET": sandboxtest.AppSecret, "WECHAT_BASE_URL": sb.URL,
		"WECHAT_TIMEOUT": "2s", "API_KEYS": e2eKey, "LOG_LEVEL": "debug", "MAX_RETRY": "5",
		"TASK_CHECK_INTERVAL": "10ms", "DELAYED_TASK_CHECK_INTERVAL": "50ms", "RETRY_BASE": "100ms",
		"NOTIFICATION_RETENTION": "1h", "LOGIN_RATE_PER_MINUTE": "100000",
	}
}

// call sends a JSON request to the api.
func (s *stack) call(method, path, auth string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.api.addr+path, rd)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := s.apiClient(0).Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// apiClient is the client for every request to the api: it holds each
// answer to openapi.yaml (internal/httpapi/contract), reporting drift to
// the test. A zero timeout means none.
func (s *stack) apiClient(timeout time.Duration) *http.Client {
	return contract.Client(s.t, timeout)
}

// user logs a new user in through the api; weChatGrants is how many sends
// the user allowed at WeChat, ourGrants how many the mini program reported.
func (s *stack) user(weChatGrants, ourGrants int) (userID string) {
	s.t.Helper()
	code, openid := s.sb.Login("", "", false)
	st, body := s.call("POST", "/v1/wx/login", "", map[string]string{"code": code})
	if st != 200 {
		s.t.Fatalf("login: %d %v", st, body)
	}
	if weChatGrants > 0 {
		if _, err := s.sb.Subscribe(openid, orderTmpl, sandbox.Accept, weChatGrants); err != nil {
			s.t.Fatal(err)
		}
	}
	for range ourGrants {
		// A 503 says "retry shortly", and the mini program does: a Redis
		// fsync under a busy disk (appendfsync always) may outlast REDIS_TIMEOUT.
		// Bounded by a few REDIS_TIMEOUTs; a report is idempotent only in
		// effect (it adds a grant), so only a 503, which stored nothing, is retried.
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, body := s.call("POST", "/v1/subscriptions", body["session_token"].(string), map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"})
			if st == 200 {
				break
			}
			if st != 503 || time.Now().After(deadline) {
				s.t.Fatalf("subscriptions: %d %v", st, body)
			}
			time.Sleep(time.Second) // the answer's Retry-After
		}
	}
	return openid
}

func orderData() map[string]any {
	return map[string]any{"item_name": "牛肉面 x2", "order_id": "TX20261124001", "arrived_at": "2026-11-24T07:01:00Z", "pickup_location": "3号楼前台"}
}

// notify posts an order_arrived notification and returns its id.
func (s *stack) notify(userID, dedupe string, extra map[string]any) string {
	s.t.Helper()
	body := map[string]any{"template": "order_arrived", "user_id": userID, "dedupe_key": dedupe, "data": orderData()}
	for k, v := range extra {
		body[k] = v
	}
	st, out := s.call("POST", "/v1/notifications", e2eKey, body)
	if st != 202 {
		s.t.Fatalf("notify: %d %v", st, out)
	}
	return out["id"].(string)
}

// waitState polls the notification's status until it reaches state.
func (s *stack) waitState(id, state string, limit time.Duration) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		_, st := s.call("GET", "/v1/notifications/"+id, e2eKey, nil)
		if st["state"] == state {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("notification %s not %s after %s: %v\nworker logs:\n%s", id, state, limit, st, s.workers[0].logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFinished polls until the notification is completed or archived.
func (s *stack) waitFinished(id string, limit time.Duration) map[string]any {
	s.t.Helper()
	st, ok := s.finishedWithin(id, limit)
	if !ok {
		s.t.Fatalf("notification %s not finished after %s: %v", id, limit, st)
	}
	return st
}

// finishedWithin polls notification id's status until it is completed or
// archived (ok) or limit passes (the last status, not ok).
func (s *stack) finishedWithin(id string, limit time.Duration) (st map[string]any, ok bool) {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		_, st = s.call("GET", "/v1/notifications/"+id, e2eKey, nil)
		if st["state"] == "completed" || st["state"] == "archived" {
			return st, true
		}
		if time.Now().After(deadline) {
			return st, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *stack) ourGrants(userID string) string {
	return s.rdb.HGet(context.Background(), subscriber.NewKeys(sandboxtest.AppID).Grants(userID), orderTmpl).Val()
}

func result(st map[string]any, field string) string {
	r, _ := st["result"].(map[string]any)
	v, _ := r[field].(string)
	return v
}

func TestE2EDeliversTheRenderedMessage(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	user := s.user(1, 1)
	st := s.waitState(s.notify(user, "order-1", nil), "completed", 10*time.Second)
	msgs := s.sb.Messages(user, orderTmpl)
	if len(msgs) != 1 {
		t.Fatalf("sandbox received %d messages; want 1", len(msgs))
	}
	m := msgs[0]
	want := map[string]string{"thing1": "牛肉面 x2", "character_string2": "TX20261124001", "time3": "2026年11月24日 15:01", "thing4": "3号楼前台", "thing5": "请凭取件码取件"}
	if len(m.Data) != len(want) {
		t.Fatalf("data %v; want %v", m.Data, want)
	}
	for k, v := range want {
		if m.Data[k] != v {
			t.Errorf("%s = %q; want %q", k, m.Data[k], v)
		}
	}
	if m.Page != "pages/order/detail?id=TX20261124001" || result(st, "status") != "delivered" || result(st, "msgid") != m.MsgID || st["attempts"] != float64(1) {
		t.Fatalf("status %v, message %+v", st, m)
	}
	if s.ourGrants(user) != "0" || s.sb.Grants(user, orderTmpl) != 0 {
		t.Fatalf("grants after delivery: ours %s, WeChat's %d; want 0 and 0", s.ourGrants(user), s.sb.Grants(user, orderTmpl))
	}
}

func TestE2ENoGrantSkipsWithoutCallingWeChat(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	user := s.user(1, 0) // allowed at WeChat, but the mini program never reported it
	st := s.waitState(s.notify(user, "order-2", nil), "completed", 10*time.Second)
	if result(st, "status") != "skipped" || result(st, "reason") != "no_grant" {
		t.Fatalf("status %v; want skipped no_grant", st)
	}
	if n := s.sb.CallsTo(sandbox.EndpointSend) + s.sb.CallsTo(sandbox.EndpointStableToken); n != 0 {
		t.Fatalf("%d WeChat calls for a user without a grant; want 0", n)
	}
}

func TestE2ENotBoundSkips(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	st := s.waitState(s.notify("never-logged-in", "order-nb", nil), "completed", 10*time.Second)
	if result(st, "status") != "skipped" || result(st, "reason") != "not_bound" || s.sb.CallsTo(sandbox.EndpointSend) != 0 {
		t.Fatalf("status %v; want skipped not_bound and no send", st)
	}
}

func TestE2EWeChat43101ZeroesTheGrant(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	user := s.user(0, 2) // reported twice, but WeChat holds no grant
	st := s.waitState(s.notify(user, "order-3", nil), "completed", 10*time.Second)
	if result(st, "status") != "skipped" || result(st, "reason") != "no_grant" {
		t.Fatalf("status %v; want skipped no_grant", st)
	}
	if g := s.ourGrants(user); g != "0" {
		t.Fatalf("our grant after 43101: %s; want 0", g)
	}
	if n := s.sb.CallsTo(sandbox.EndpointSend); n != 1 {
		t.Fatalf("%d sends; want 1", n)
	}
}

func TestE2EBusyTwiceThenDelivered(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, func(c *sandbox.Config) {
		c.Faults.Script = []sandbox.Scripted{{Endpoint: sandbox.EndpointSend, ErrCode: -1}, {Endpoint: sandbox.EndpointSend, ErrCode: -1}}
	})
	user := s.user(1, 1)
	st := s.waitState(s.notify(user, "order-4", nil), "completed", 15*time.Second)
	if result(st, "status") != "delivered" || st["attempts"] != float64(3) || len(s.sb.Messages(user, "")) != 1 {
		t.Fatalf("status %v; want delivered on the third attempt, one message", st)
	}
	if g := s.ourGrants(user); g != "0" {
		t.Fatalf("our grant %s; want 0 (given back after each -1, spent by the success)", g)
	}
	// The history tells the story: two busy answers, then the delivery.
	var story []string
	for _, h := range st["history"].([]any) {
		e := h.(map[string]any)
		code, _ := e["errcode"].(float64)
		story = append(story, fmt.Sprintf("%s/%d", e["outcome"], int(code)))
	}
	if got := strings.Join(story, " "); got != "retried_busy/-1 retried_busy/-1 delivered/0" {
		t.Fatalf("history %q; want two busy retries, then delivered", got)
	}
}

func TestE2ERetiredTokenIsRefetchedOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	user := s.user(2, 2)
	s.waitState(s.notify(user, "order-5a", nil), "completed", 10*time.Second)
	s.sb.RetireTokens()
	st := s.waitState(s.notify(user, "order-5b", nil), "completed", 10*time.Second)
	if result(st, "status") != "delivered" || st["attempts"] != float64(1) {
		t.Fatalf("status %v; want delivered in the first attempt", st)
	}
	calls := s.sb.Calls()[sandbox.EndpointSend]
	if n := s.sb.CallsTo(sandbox.EndpointStableToken); n != 2 || calls.Outcomes["40001"] != 1 || calls.Outcomes["0"] != 2 {
		t.Fatalf("stable_token calls %d, send outcomes %v; want 2 fetches, one 40001, two successes", n, calls.Outcomes)
	}
}

func TestE2EInvalidDataIsArchivedNamingTheField(t *testing.T) {
	t.Parallel()
	// WeChat's template has a keyword our registry does not fill: 47003.
	s := newStack(t, 1, func(c *sandbox.Config) {
		c.Templates = sandbox.DefaultTemplates()
		c.Templates[0].Keywords = append(c.Templates[0].Keywords, sandbox.Keyword{Key: "phrase6"})
	})
	user := s.user(1, 1)
	st := s.waitState(s.notify(user, "order-6", nil), "archived", 10*time.Second)
	if !strings.Contains(st["last_error"].(string), "47003") || !strings.Contains(st["last_error"].(string), "data.phrase6.value") || st["attempts"] != float64(1) {
		t.Fatalf("status %v; want archived after one attempt with the 47003 errmsg naming data.phrase6.value", st)
	}
	if g := s.ourGrants(user); g != "1" {
		t.Fatalf("our grant %s; want 1 (given back: WeChat spent none)", g)
	}
}

func TestE2EMinuteQuotaDefersWithoutSpendingRetries(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, func(c *sandbox.Config) {
		c.Faults.Script = []sandbox.Scripted{{Endpoint: sandbox.EndpointSend, ErrCode: 45011}}
	})
	user := s.user(1, 1)
	before := time.Now()
	st := s.waitState(s.notify(user, "order-7", nil), "retry", 10*time.Second)
	next, _ := time.Parse(time.RFC3339, st["next_process_at"].(string))
	if st["attempts"] != float64(0) || next.Before(before.Add(59*time.Second)) {
		t.Fatalf("status %v; want a retry a minute out with no attempt counted", st)
	}
	s.wantNoFailure(st["id"].(string))
	if g := s.ourGrants(user); g != "1" {
		t.Fatalf("our grant %s; want 1 (given back)", g)
	}
}

// WeChat refusing our secret is not the notification's fault: it waits for
// the configuration to be fixed, spending no retry and counting as no
// failure, so it is never archived for it.
func TestE2ERefusedSecretDefersWithoutSpendingRetries(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	user := s.user(1, 1)
	if err := s.sb.SetFaults(sandbox.Faults{SecretFrozen: true}); err != nil { // after the login, which needs the secret too
		t.Fatal(err)
	}
	before := time.Now()
	st := s.waitState(s.notify(user, "order-frozen", nil), "retry", 10*time.Second)
	next, _ := time.Parse(time.RFC3339, st["next_process_at"].(string))
	if st["attempts"] != float64(0) || next.Before(before.Add(59*time.Second)) || !strings.Contains(st["last_error"].(string), "40243") {
		t.Fatalf("status %v; want a retry a minute out with no attempt counted and 40243 as the last error", st)
	}
	s.wantNoFailure(st["id"].(string))
}

// wantNoFailure checks that asynq counted no failure for notification id:
// its task's retries (which MAX_RETRY bounds) and the queue's failed counts
// (what asynqmon shows as Failed and Error rate) are zero.
func (s *stack) wantNoFailure(id string) {
	s.t.Helper()
	ins := asynq.NewInspectorFromRedisClient(s.rdb)
	info, err := ins.GetTaskInfo(task.QueueName, task.TaskID(id))
	if err != nil || info.Retried != 0 {
		s.t.Fatalf("asynq retried count %d (%v); want 0", info.Retried, err)
	}
	q, err := ins.GetQueueInfo(task.QueueName)
	if err != nil || q.Failed != 0 || q.FailedTotal != 0 {
		s.t.Fatalf("asynq counts %d failures today, %d in all (%v); want 0", q.Failed, q.FailedTotal, err)
	}
}

// The same task delivered again (a redelivery after a crash) sends nothing.
func TestE2ESameTaskTwiceSendsOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	user := s.user(2, 2)
	id := s.notify(user, "order-8", nil)
	first := s.waitState(id, "completed", 10*time.Second)

	// asynq let go of the finished task; a redelivery is the same task id
	// again, as asynq's recoverer would run it.
	p := task.Payload{Template: "order_arrived", TemplateID: orderTmpl, UserID: user, DedupeKey: "order-8", Data: map[string]string{"thing1": "x"}}
	b, _ := p.Encode()
	if _, err := asynq.NewClientFromRedisClient(s.rdb).Enqueue(asynq.NewTask(task.Type, b),
		asynq.TaskID(task.TaskID(id)), asynq.Queue(task.QueueName)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // bounds a stuck worker; it picks up within 10 ms
	for {
		q, err := asynq.NewInspectorFromRedisClient(s.rdb).GetQueueInfo(task.QueueName)
		if err == nil && q.Processed >= 2 && q.Pending+q.Active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the redelivered task was not processed: %+v %v", q, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	second := s.waitState(id, "completed", 10*time.Second)
	if result(second, "msgid") != result(first, "msgid") || s.sb.CallsTo(sandbox.EndpointSend) != 1 || s.ourGrants(user) != "1" {
		t.Fatalf("second run: %v; sends %d, grant %s; want the first msgid, 1 send, 1 grant left", second, s.sb.CallsTo(sandbox.EndpointSend), s.ourGrants(user))
	}
}

// The same task running twice at once — what a Redis failover that lost
// asynq's record of a dequeue leads to: the task is pending again on the
// promoted replica while a worker is sending it — sends once. The second
// run finds the first's claim, sends nothing and comes back after the
// first run's deadline; the user holds a spare grant at WeChat, so a second
// send would show on the phone.
func TestE2ESameTaskRunningTwiceAtOnceSendsOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, 2, func(c *sandbox.Config) {
		c.Faults = sandbox.Faults{Latency: sandbox.Duration(time.Second), Endpoints: []string{sandbox.EndpointSend}}
	})
	user := s.user(2, 2)
	id := s.notify(user, "order-twice", nil)
	claim := subscriber.NewKeys(sandboxtest.AppID).Claim(user, id)
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second) // a worker picks the task up within TASK_CHECK_INTERVAL (10 ms)
	for s.rdb.Exists(ctx, claim).Val() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no worker claimed the notification")
		}
		time.Sleep(2 * time.Millisecond)
	}
	// The first run is in its one-second send: queue the task again as a
	// promoted replica that missed the dequeue would hold it.
	if err := s.rdb.LPush(ctx, "asynq:{"+task.QueueName+"}:pending", task.TaskID(id)).Err(); err != nil {
		t.Fatal(err)
	}
	st := s.waitState(id, "completed", 15*time.Second)
	if result(st, "status") != "delivered" {
		t.Fatalf("status %v; want delivered", st)
	}
	held := func() bool {
		for _, w := range s.workers {
			if strings.Contains(w.logs.String(), "notification retried_claim_held") {
				return true
			}
		}
		return false
	}
	// Wait for the second run's verdict: it held back, or it sent too (its
	// send takes the sandbox's second).
	for !held() && len(s.sb.Messages(user, "")) < 2 && time.Now().Before(deadline.Add(2*time.Second)) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(s.sb.Messages(user, "")); n != 1 || s.ourGrants(user) != "1" {
		t.Fatalf("%d messages on the phone, our grant %s; want 1 message, 1 grant left", n, s.ourGrants(user))
	}
	if !held() {
		t.Fatal("the second run never met the first's claim: the test did not run the task twice at once")
	}
}

func TestE2ETwoWorkersOneTokenFetch(t *testing.T) {
	t.Parallel()
	s := newStack(t, 2)
	var ids []string
	for i := range 10 {
		ids = append(ids, s.notify(s.user(1, 1), "order-9-"+string(rune('a'+i)), nil))
	}
	for _, id := range ids {
		s.waitState(id, "completed", 15*time.Second)
	}
	if n := s.sb.CallsTo(sandbox.EndpointStableToken); n != 1 {
		t.Fatalf("%d stable_token calls from two workers on a cold cache; want 1", n)
	}
	if n := len(s.sb.Messages("", "")); n != 10 {
		t.Fatalf("%d messages; want 10", n)
	}
	// Both workers took part.
	for i, w := range s.workers {
		if !strings.Contains(w.logs.String(), "notification delivered") {
			t.Logf("worker %d delivered nothing (allowed, but unusual)", i)
		}
	}
}

func TestE2ESendAtIsHonoured(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	user := s.user(1, 1)
	at := time.Now().Add(1500 * time.Millisecond)
	id := s.notify(user, "order-10", map[string]any{"send_at": at.Format(time.RFC3339Nano)})
	s.waitState(id, "completed", 10*time.Second)
	m := s.sb.Messages(user, "")
	if len(m) != 1 || m[0].SentAt.Before(at) {
		t.Fatalf("messages %+v; want one sent no earlier than %s", m, at)
	}
}

// WeChat delivers but the reply is lost (our timeout): the grant we gave
// back is refused on the retry with 43101, and the result says the message
// probably arrived — not a second message, not "no grant".
func TestE2ELostReplyEndsAsProbablyDelivered(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, func(c *sandbox.Config) {
		c.Faults = sandbox.Faults{LostReplyRate: 1, Endpoints: []string{sandbox.EndpointSend}}
	})
	user := s.user(1, 1)
	id := s.notify(user, "order-lost", nil)
	deadline := time.Now().Add(10 * time.Second)
	for len(s.sb.Messages(user, "")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first send never reached the sandbox")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = s.sb.SetFaults(sandbox.Faults{}) // the retry gets a real answer
	st := s.waitState(id, "completed", 15*time.Second)
	if result(st, "status") != "skipped" || result(st, "reason") != "probably_delivered" || st["attempts"] != float64(2) {
		t.Fatalf("status %v; want skipped probably_delivered after two attempts", st)
	}
	if n := len(s.sb.Messages(user, "")); n != 1 {
		t.Fatalf("%d messages on the phone; want 1", n)
	}
}
