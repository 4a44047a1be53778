package delivery

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"wxnotify/internal/record"
	"wxnotify/internal/redistest"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
	"wxnotify/internal/wechat"
)

type fakeTokens struct{}

func (fakeTokens) Get(context.Context) (string, error)      { return "token", nil }
func (fakeTokens) Invalidate(context.Context, string) error { return nil }

// fakeSender answers every send with msgid, or with err.
type fakeSender struct{ err error }

func (s fakeSender) SendSubscribe(context.Context, string, wechat.Message) (string, error) {
	if s.err != nil {
		return "", s.err
	}
	return "msgid-1", nil
}

type openLimiter struct{}

func (openLimiter) Allow(context.Context, string) (time.Duration, bool, error) { return 0, true, nil }

// Counting outcomes for the console, and filing them in its feed, adds no
// round trip: on one Redis node a delivery makes two (begin and claim; the
// record, with the markers' deletion, the count and the feed after it in
// the same script), a skip the same two (begin and claim, the record), an
// archive three (begin and claim, the grant given back, the record); each
// is counted once in its hour, and listed where it stands.
func TestOutcomesAreCountedAndFiledWithoutARoundTripOfTheirOwn(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	ctx := context.Background()
	users := subscriber.New(rdb, "wxapp", time.Hour)
	newHandler := func(sender Sender) *Handler {
		return New(Deps{Redis: rdb, AppID: "wxapp", Tokens: fakeTokens{}, Sender: sender, Limiter: openLimiter{},
			Retention: time.Hour, RetryBase: time.Second, RetryCap: time.Minute, SentEvents: true,
			Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(prometheus.NewRegistry()).App("test")})
	}
	taskOf := func(user, dedupe string) *asynq.Task {
		p := task.Payload{Template: "order_arrived", TemplateID: tmpl, UserID: user, DedupeKey: dedupe,
			Data: map[string]string{"thing1": "x"}, CreatedAt: time.Now()}
		b, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return asynq.NewTask(task.Type, b)
	}
	bind := func(user string, grants int) {
		if _, err := users.Bind(ctx, subscriber.Binding{UserID: user, OpenID: "o-" + user, BoundAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		for range grants {
			if _, err := users.Apply(ctx, user, []subscriber.Choice{{TemplateID: tmpl, Result: subscriber.Accept}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	trips := redistest.Count(rdb)
	retried := 0 // the attempt's retries so far
	run := func(h *Handler, user, dedupe string) (int64, error) {
		t.Helper()
		before := trips.N()
		// What asynq's context would carry: the task's id, its retries so far, 5 at most.
		err := h.process(ctx, &attempt{task: taskOf(user, dedupe), id: task.ID("order_arrived", dedupe), retried: retried, maxRetry: 5})
		return trips.N() - before, err
	}
	delivers, refuses := newHandler(fakeSender{}), newHandler(fakeSender{err: &wechat.Error{Endpoint: wechat.EndpointSend, Code: 40003, Msg: "invalid openid"}})
	bind("warm", 2)
	if _, err := run(delivers, "warm", "warm-up"); err != nil { // loads the scripts (NOSCRIPT falls back once)
		t.Fatal(err)
	}
	if _, err := run(delivers, "nobody", "warm-up-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(refuses, "warm", "warm-up-3"); !errors.Is(err, asynq.SkipRetry) {
		t.Fatal(err)
	}
	busy := newHandler(fakeSender{err: &wechat.Error{Endpoint: wechat.EndpointSend, Code: -1, Msg: "system busy"}})
	if _, err := run(busy, "warm", "warm-up-4"); err == nil {
		t.Fatal("a busy WeChat delivered")
	}
	bind("u1", 1)
	bind("u2", 0)
	bind("u3", 1)
	for _, c := range []struct {
		h            *Handler
		user, dedupe string
		trips        int64
	}{
		{delivers, "u1", "delivered", 2},
		{delivers, "u2", "no-grant", 2},
		{delivers, "never-bound", "not-bound", 2},
		{refuses, "u3", "archived", 3}, // begin and claim, the grant given back, the record
	} {
		n, err := run(c.h, c.user, c.dedupe)
		if err != nil && !errors.Is(err, asynq.SkipRetry) {
			t.Fatal(err)
		}
		if n != c.trips {
			t.Errorf("%s: %d round trips; want %d", c.dedupe, n, c.trips)
		}
	}
	// A transient failure retries, with the count in the retry's write; on
	// the last retry it ends archived, and is counted so.
	bind("u4", 2)
	if n, err := run(busy, "u4", "busy"); err == nil || errors.Is(err, asynq.SkipRetry) || n != 3 {
		t.Errorf("a retry: %v after %d round trips; want a retry after 3 (begin and claim, the grant back, the record)", err, n)
	}
	retried = 5
	if _, err := run(busy, "u4", "busy"); err == nil {
		t.Error("the last retry succeeded")
	}
	hours, err := record.NewStore(rdb, "wxapp", time.Hour).OutcomeCounts(ctx, time.Now(), 2)
	if err != nil {
		t.Fatal(err)
	}
	got := map[record.Class]int64{}
	for _, h := range hours {
		for class, n := range h.Counts["order_arrived"] {
			got[class] += n
		}
	}
	if got[record.ClassDelivered] != 2 || got[record.ClassSkippedNoGrant] != 1 || got[record.ClassSkippedUnbound] != 2 || got[record.ClassArchived] != 3 || got[record.ClassRetrying] != 2 {
		t.Fatalf("counts %v", got)
	}
	for state, want := range map[record.FeedState][]string{
		record.FeedRetrying:  {"warm-up-4"},
		record.FeedDelivered: {"delivered", "warm-up"},
		record.FeedSkipped:   {"not-bound", "no-grant", "warm-up-2"},
		record.FeedArchived:  {"busy", "archived", "warm-up-3"},
	} {
		page, err := record.NewStore(rdb, "wxapp", time.Hour).Feed(ctx, record.FeedQuery{State: state})
		var listed []string
		for _, e := range page.Entries {
			listed = append(listed, e.DedupeKey)
		}
		if err != nil || !slices.Equal(listed, want) {
			t.Errorf("the %s feed lists %v (%v); want %v", state, listed, err, want)
		}
	}
}
