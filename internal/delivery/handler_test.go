package delivery

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/notification"
	"wxnotify/internal/redistest"
	"wxnotify/internal/subscriber"
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

// accepted is when the tasks of these tests were accepted: long enough ago
// that the attempt writes the record the api never wrote here (a record
// missing for a task accepted moments ago is on its way: the attempt waits).
func accepted() time.Time { return time.Now().Add(-time.Minute) }

// run runs one attempt of user's notification dedupe and returns its id.
func (f *handlerFixture) run(user, dedupe string) (string, error) {
	f.t.Helper()
	return f.runAccepted(user, dedupe, accepted())
}

// runAccepted is run for a task accepted at at.
func (f *handlerFixture) runAccepted(user, dedupe string, at time.Time) (string, error) {
	f.t.Helper()
	p := notification.Payload{Template: "order_arrived", TemplateID: tmpl, UserID: user, DedupeKey: dedupe,
		Data: map[string]string{"thing1": "x"}, CreatedAt: at}
	b, err := p.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	id := notification.ID("order_arrived", dedupe)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return id, f.h.process(ctx, &attempt{task: asynq.NewTask(notification.TaskType, b), id: id, maxRetry: 5})
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

// A task accepted moments ago whose record is missing waits a second for
// it, taking nothing: the api writes it in the enqueue's round trip, and
// once after Redis lost its scripts right after the enqueue. Written from
// the task instead, the record would make the api answer its own
// notification as a duplicate.
func TestYoungTaskWaitsForItsRecord(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, false)
	ctx := context.Background()
	f.bind("u1", 1)
	id, err := f.runAccepted("u1", "order-young", time.Now())
	var d *deferred
	if !errors.As(err, &d) || !errors.Is(err, notification.ErrRecordOnItsWay) || d.wait != time.Second || IsFailure(err) {
		t.Fatalf("a young task without its record: %v; want a deferral of a second that is no failure", err)
	}
	grants := f.rdb.HGet(ctx, f.keys.Grants("u1"), tmpl).Val()
	if grants != "1" || f.rdb.Exists(ctx, f.keys.Claim("u1", id)).Val() != 0 || f.rdb.Exists(ctx, notification.NewKeys("wxapp").Record(id)).Val() != 0 {
		t.Fatalf("after waiting: grants %s, claim %d, record %d; want 1, none, none", grants,
			f.rdb.Exists(ctx, f.keys.Claim("u1", id)).Val(), f.rdb.Exists(ctx, notification.NewKeys("wxapp").Record(id)).Val())
	}
}
