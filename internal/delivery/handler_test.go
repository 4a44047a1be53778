package delivery

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
	"wxnotify/internal/redistest"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
	"wxnotify/internal/wechat"
)

// handlerFixture is a Handler on real Redis with WeChat faked, and a way to
// run one attempt of a notification for a bound user holding grants.
type handlerFixture struct {
	t    *testing.T
	rdb  *redis.Client
	h    *Handler
	keys subscriber.Keys
}

func newHandlerFixture(t *testing.T, sentEvents bool) *handlerFixture {
	t.Helper()
	rdb := redistest.New(t)
	h := New(Deps{Redis: rdb, AppID: "wxapp", Tokens: fakeTokens{}, Sender: fakeSender{}, Limiter: openLimiter{},
		Retention: time.Hour, RetryBase: time.Second, RetryCap: time.Minute, SentEvents: sentEvents,
		Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(prometheus.NewRegistry()).App("test")})
	return &handlerFixture{t: t, rdb: rdb, h: h, keys: subscriber.NewKeys("wxapp")}
}

// bind binds user to an openid with grants one-time grants.
func (f *handlerFixture) bind(user string, grants int) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.rdb.HSet(ctx, f.keys.Binding(user), "openid", "o-"+user).Err(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.rdb.HSet(ctx, f.keys.Grants(user), tmpl, grants).Err(); err != nil {
		f.t.Fatal(err)
	}
}

// run runs one attempt of user's notification dedupe and returns its id.
// The api wrote no record here: the attempt writes it from the task.
func (f *handlerFixture) run(user, dedupe string) (string, error) {
	f.t.Helper()
	return f.runWith(fakeSender{}, user, dedupe, 0)
}

// A run that finds its notification completed sends nothing and leaves the
// grants as they were: a fresh claim taken in the same round trip is given
// back, and a dead run's claim it took over is dropped without giving back
// the grant that run spent.
func TestRunOfACompletedNotificationUndoesItsClaim(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, false)
	ctx := context.Background()
	f.bind("u1", 2)
	id, err := f.run("u1", "order-1")
	if err != nil {
		t.Fatal(err)
	}
	grants := func() string { return f.rdb.HGet(ctx, f.keys.Grants("u1"), tmpl).Val() }
	if grants() != "1" {
		t.Fatalf("grants after the delivery: %s; want 1", grants())
	}
	// Redelivered: the record says completed; the pipelined claim took a
	// grant, which goes back.
	if _, err := f.run("u1", "order-1"); err != nil {
		t.Fatal(err)
	}
	if grants() != "1" || f.rdb.Exists(ctx, f.keys.Claim("u1", id)).Val() != 0 {
		t.Fatalf("after a redelivery: grants %s, claim %d; want 1 and none", grants(), f.rdb.Exists(ctx, f.keys.Claim("u1", id)).Val())
	}
	// Redelivered again with a dead run's claim left behind (its marker
	// was not dropped): taken over, then dropped, no grant given back.
	f.rdb.Set(ctx, f.keys.Claim("u1", id), "dead-run 1", time.Hour)
	if _, err := f.run("u1", "order-1"); err != nil {
		t.Fatal(err)
	}
	if grants() != "1" || f.rdb.Exists(ctx, f.keys.Claim("u1", id)).Val() != 0 {
		t.Fatalf("after a redelivery over a dead run's claim: grants %s, claim %d; want 1 and none", grants(), f.rdb.Exists(ctx, f.keys.Claim("u1", id)).Val())
	}
}

// With WECHAT_SENT_EVENTS the delivered msgid is linked for WeChat's sent
// event; without it (no message push), nothing is left for it.
func TestSentEventsLinkTheMsgidOnlyWhenOn(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		f := newHandlerFixture(t, on)
		f.bind("u2", 1)
		if _, err := f.run("u2", "order-2"); err != nil {
			t.Fatal(err)
		}
		keys, err := f.rdb.Keys(context.Background(), "wxnotify:wxapp:msg:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if on != (len(keys) == 1) {
			t.Fatalf("sent events %v: msgid keys %v", on, keys)
		}
	}
}

// runWith runs one attempt of user's notification dedupe with sender,
// as retry number retried of at most 5, and returns its id.
func (f *handlerFixture) runWith(sender Sender, user, dedupe string, retried int) (string, error) {
	f.t.Helper()
	f.h.sender = sender
	defer func() { f.h.sender = fakeSender{} }()
	p := task.Payload{Template: "order_arrived", TemplateID: tmpl, UserID: user, DedupeKey: dedupe,
		Data: map[string]string{"thing1": "x"}, CreatedAt: time.Now()}
	b, err := p.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	id := task.ID("order_arrived", dedupe)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return id, f.h.process(ctx, &attempt{task: asynq.NewTask(task.Type, b), id: id, retried: retried, maxRetry: 5})
}

func (f *handlerFixture) status(id string) record.Status {
	f.t.Helper()
	st, err := f.h.records.Status(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// A transient failure retries with its grant given back and the delay it
// tells asynq written into the record; the same failure with no retry left
// ends archived — in the record, the history and asynq's answer alike.
func TestTransientFailureRetriesUntilTheRetriesAreSpent(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, false)
	ctx := context.Background()
	f.bind("u1", 1)
	busy := fakeSender{err: &wechat.Error{Endpoint: wechat.EndpointSend, Code: -1, Msg: "system busy"}}
	id, err := f.runWith(busy, "u1", "order-busy", 0)
	var r *retryAfter
	if !errors.As(err, &r) || !r.failure || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("a busy WeChat: %v; want a retry that counts as a failure", err)
	}
	st := f.status(id)
	if st.State != record.Retry || st.Attempts != 1 || st.History[0].ErrCode != -1 || !strings.HasPrefix(st.History[0].Outcome, "retried_") {
		t.Fatalf("after a busy WeChat: %+v", st)
	}
	if d := time.Until(st.NextProcessAt); d > r.delay+time.Second || d < r.delay-2*time.Second {
		t.Fatalf("the record's next try is in %s; asynq was told %s", d, r.delay)
	}
	if g := f.rdb.HGet(ctx, f.keys.Grants("u1"), tmpl).Val(); g != "1" {
		t.Fatalf("grants after a failed send: %s; want the grant back (1)", g)
	}
	if _, err := f.runWith(busy, "u1", "order-busy", 5); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("the last retry: %v; want SkipRetry", err)
	}
	st = f.status(id)
	last := st.History[len(st.History)-1]
	if st.State != record.Archived || !strings.HasPrefix(last.Outcome, "archived_") || st.LastError == "" {
		t.Fatalf("after the last retry: %+v; want archived, and the history saying so", st)
	}
}

// A deferral (WeChat's minute quota) spends no retry and counts no
// attempt; an error WeChat will never accept archives at once.
func TestDeferralSpendsNothingAndPermanentArchives(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, false)
	f.bind("u1", 2)
	quota := fakeSender{err: &wechat.Error{Endpoint: wechat.EndpointSend, Code: 45009, Msg: "reach max api daily quota limit"}}
	id, err := f.runWith(quota, "u1", "order-quota", 0)
	var r *retryAfter
	if !errors.As(err, &r) || r.failure || IsFailure(err) || r.delay <= 0 {
		t.Fatalf("a quota: %v; want a deferral that is no failure", err)
	}
	if st := f.status(id); st.State != record.Retry || st.Attempts != 0 {
		t.Fatalf("after a quota: %+v; want retry, no attempt counted", st)
	}
	bad := fakeSender{err: &wechat.Error{Endpoint: wechat.EndpointSend, Code: 40003, Msg: "invalid openid"}}
	id, err = f.runWith(bad, "u1", "order-bad", 0)
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("an invalid openid: %v; want SkipRetry", err)
	}
	if st := f.status(id); st.State != record.Archived || st.History[0].Outcome != "archived_permanent" || st.History[0].ErrCode != 40003 {
		t.Fatalf("after an invalid openid: %+v", st)
	}
}

// WeChat's 43101 after a claim: the user has no grant left at WeChat,
// whatever we counted. The notification completes skipped, the grant count
// is zeroed and the claim ends.
func TestNoGrantAtWeChatZeroesTheGrants(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, false)
	ctx := context.Background()
	f.bind("u1", 3)
	refused := fakeSender{err: &wechat.Error{Endpoint: wechat.EndpointSend, Code: 43101, Msg: "user refuse to accept the msg"}}
	id, err := f.runWith(refused, "u1", "order-43101", 0)
	if err != nil {
		t.Fatal(err)
	}
	st := f.status(id)
	if st.State != record.Completed || st.Result == nil || st.Result.Reason != record.ReasonNoGrant || st.History[0].ErrCode != 43101 {
		t.Fatalf("after 43101: %+v", st)
	}
	if g := f.rdb.HGet(ctx, f.keys.Grants("u1"), tmpl).Val(); g != "0" {
		t.Fatalf("grants after 43101: %s; want 0", g)
	}
	if f.rdb.Exists(ctx, f.keys.Claim("u1", id)).Val() != 0 {
		t.Fatal("the claim outlived the notification")
	}
}

// blockingSender holds every send until release is closed, telling started.
type blockingSender struct {
	started chan struct{}
	release chan struct{}
}

func (s blockingSender) SendSubscribe(context.Context, string, wechat.Message) (string, error) {
	s.started <- struct{}{}
	<-s.release
	return "msgid-2", nil
}

// One send at a time per user (WeChat refuses concurrent sends to one
// openid with 43108): a notification whose user is being sent another one
// waits, spending neither a retry nor a grant, and goes out after it.
func TestOneSendAtATimePerUser(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, false)
	ctx := context.Background()
	f.bind("u1", 2)
	slow := blockingSender{started: make(chan struct{}), release: make(chan struct{})}
	first := make(chan error, 1)
	go func() {
		_, err := f.runWith(slow, "u1", "order-first", 0)
		first <- err
	}()
	<-slow.started // the first notification is at WeChat now
	p := task.Payload{Template: "order_arrived", TemplateID: tmpl, UserID: "u1", DedupeKey: "order-second",
		Data: map[string]string{"thing1": "x"}, CreatedAt: time.Now()}
	b, _ := p.Encode()
	second := task.ID("order_arrived", "order-second")
	h := New(Deps{Redis: f.rdb, AppID: "wxapp", Tokens: fakeTokens{}, Sender: fakeSender{}, Limiter: openLimiter{},
		Retention: time.Hour, RetryBase: time.Second, RetryCap: time.Minute,
		Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(prometheus.NewRegistry()).App("test")})
	err := h.process(ctx, &attempt{task: asynq.NewTask(task.Type, b), id: second, maxRetry: 5})
	var r *retryAfter
	if !errors.As(err, &r) || r.failure || !errors.Is(err, errUserBusy) || r.delay <= 0 || r.delay > time.Second {
		t.Fatalf("a second notification while the first is sent: %v; want a short deferral that is no failure", err)
	}
	if g := f.rdb.HGet(ctx, f.keys.Grants("u1"), tmpl).Val(); g != "1" {
		t.Fatalf("grants while the first is sent: %s; want 1 (the second took none)", g)
	}
	close(slow.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := h.process(ctx, &attempt{task: asynq.NewTask(task.Type, b), id: second, maxRetry: 5}); err != nil {
		t.Fatalf("the second after the first: %v", err)
	}
	if st := f.status(second); st.State != record.Completed || st.Result.Status != record.Delivered || st.Attempts != 1 {
		t.Fatalf("the second: %+v; want delivered at its first counted attempt", st)
	}
}
