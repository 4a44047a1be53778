package notification_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/notification"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
	"wxnotify/internal/subscriber"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const appID = "wxappid0000000001"

func setup(t *testing.T) (*notification.Queue, *redis.Client) {
	t.Helper()
	rdb := redistest.Lend(t).Client(t)
	redisconn.EnableRideAlong(rdb) // as the programs' clients (redisconn.Target.Client)
	return notification.NewQueue(rdb, appID, notification.QueueName, time.Hour, 3), rdb
}

func payload(user, dedupe string) notification.Payload {
	return notification.Payload{
		Template: "order_arrived", TemplateID: "T", UserID: user, DedupeKey: dedupe,
		Data: map[string]string{"thing1": "x"}, CreatedAt: time.Now().UTC(),
	}
}

// pending lists the ids asynq holds in the notifications queue.
func pending(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	tasks, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(notification.QueueName)
	if err != nil && err.Error() != "asynq: queue not found" {
		t.Fatal(err)
	}
	var ids []string
	for _, task := range tasks {
		ids = append(ids, task.ID)
	}
	return ids
}

// WeChat gives no ordering between its answer to a send and its
// subscribe_msg_sent_event push: the status shows WeChat's word whichever
// came first, and the meeting key is gone once both sides have come.
func TestWeChatResultShowsWhicheverArrivesFirst(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	at := time.Date(2026, 11, 24, 7, 1, 0, 0, time.UTC)
	delivered := func(p notification.Payload, id, msgid string) {
		t.Helper()
		if err := q.Finish(ctx, id, p, 3, notification.StateCompleted, notification.Result{Status: notification.Delivered, MsgID: msgid}, "", "delivered", 0); err != nil {
			t.Fatal(err)
		}
		if err := q.Delivered(ctx, id, msgid); err != nil {
			t.Fatal(err)
		}
	}
	pushFirst, answerFirst := payload("u-1", "push-first"), payload("u-1", "answer-first")
	early, _ := q.Enqueue(ctx, pushFirst)
	late, _ := q.Enqueue(ctx, answerFirst)

	if err := q.RecordWeChatResult(ctx, "1988810812324364291", notification.WeChatResult{ErrorStatus: "success", At: at}); err != nil {
		t.Fatal(err)
	}
	delivered(pushFirst, early.ID, "1988810812324364291")
	delivered(answerFirst, late.ID, "1988810812324364292")
	if err := q.RecordWeChatResult(ctx, "1988810812324364292", notification.WeChatResult{ErrorCode: 10002, ErrorStatus: "failed:user refuse to accept the msg", At: at}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{early.ID: "success", late.ID: "failed:user refuse to accept the msg"} {
		st, err := q.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != notification.StateCompleted || st.Result == nil || st.Result.Status != notification.Delivered {
			t.Fatalf("%s: %+v; want completed, delivered", id, st)
		}
		if st.WeChat == nil || st.WeChat.ErrorStatus != want || !st.WeChat.At.Equal(at) {
			t.Fatalf("%s: WeChat's status %+v; want %q at %s", id, st.WeChat, want, at)
		}
	}
	if n := rdb.Exists(ctx, notification.NewKeys(appID).Msg("1988810812324364291"), notification.NewKeys(appID).Msg("1988810812324364292")).Val(); n != 0 {
		t.Fatalf("%d msgid meeting keys left after both sides came; want 0", n)
	}
}

// A repeat of (template, dedupe_key) is a duplicate for as long as the
// record lives, long after asynq let go of its task; the record, not asynq,
// answers the status.
func TestDuplicateOutlivesTheTask(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-1", "order-1")
	first, err := q.Enqueue(ctx, p)
	if err != nil || first.Duplicate || first.State != notification.StatePending {
		t.Fatalf("first: %+v, %v", first, err)
	}
	// The worker completes it and asynq forgets the task (no retention).
	if err := q.Finish(ctx, first.ID, p, 3, notification.StateCompleted, notification.Result{Status: notification.Delivered, MsgID: "7"}, "", "delivered", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewInspectorFromRedisClient(rdb).DeleteAllPendingTasks(notification.QueueName); err != nil {
		t.Fatal(err)
	}
	again, err := q.Enqueue(ctx, payload("u-2", "order-1"))
	if err != nil || !again.Duplicate || again.ID != first.ID || again.State != notification.StateCompleted {
		t.Fatalf("repeat: %+v, %v; want the completed duplicate", again, err)
	}
	if ids := pending(t, rdb); len(ids) != 0 {
		t.Fatalf("a repeat of a completed notification queued %v", ids)
	}
	st, err := q.Lookup(ctx, "order_arrived", "order-1")
	if err != nil || st.ID != first.ID || st.Result.MsgID != "7" || st.Attempts != 1 || len(st.History) != 1 || st.History[0].Outcome != "delivered" {
		t.Fatalf("lookup: %+v, %v", st, err)
	}
	// The repeat named another user: only the first user lists it.
	if list, _, _ := q.UserNotifications(ctx, "u-2", "", 10); len(list) != 0 {
		t.Fatalf("u-2 lists %d notifications; want none", len(list))
	}
}

// Concurrent repeats make one record and one task.
func TestConcurrentRepeatsQueueOnce(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	var wg sync.WaitGroup
	fresh := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			res, err := q.Enqueue(context.Background(), payload("u-1", "order-race"))
			if err != nil {
				t.Error(err)
				return
			}
			if !res.Duplicate {
				fresh <- res.ID
			}
		})
	}
	wg.Wait()
	close(fresh)
	if len(fresh) != 1 {
		t.Fatalf("%d of 20 concurrent posts were answered as new; want 1", len(fresh))
	}
	if ids := pending(t, rdb); len(ids) != 1 {
		t.Fatalf("queued %v; want one task", ids)
	}
}

// An api process that dies after creating the record and before queueing
// the task loses nothing: the client got no answer and repeats the call,
// and the repeat queues the task — once.
func TestAcceptedButNeverQueuedIsQueuedByTheRepeat(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-1", "order-crash")
	// What the dying process got done: the record, not the task.
	dying := notification.NewQueue(rdb, appID, notification.QueueName, time.Hour, 3)
	first, err := dying.Enqueue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewInspectorFromRedisClient(rdb).DeleteAllPendingTasks(notification.QueueName); err != nil {
		t.Fatal(err)
	}
	repeat, err := q.Enqueue(ctx, p)
	if err != nil || repeat.ID != first.ID {
		t.Fatalf("repeat: %+v, %v", repeat, err)
	}
	if ids := pending(t, rdb); len(ids) != 1 || ids[0] != notification.TaskID(first.ID) {
		t.Fatalf("after the repeat asynq holds %v; want the task %s", ids, notification.TaskID(first.ID))
	}
	// A further repeat while it is queued queues nothing more.
	if _, err := q.Enqueue(ctx, p); err != nil {
		t.Fatal(err)
	}
	if ids := pending(t, rdb); len(ids) != 1 {
		t.Fatalf("after a second repeat asynq holds %v; want one task", ids)
	}
}

// A task queued before task ids were dotted (notification.TaskID) is under
// the notification id itself: a repeat finds it and queues no second task.
func TestRepeatFindsATaskQueuedUnderTheOldID(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-1", "order-old")
	first, err := q.Enqueue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewInspectorFromRedisClient(rdb).DeleteAllPendingTasks(notification.QueueName); err != nil {
		t.Fatal(err)
	}
	b, _ := p.Encode()
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask(notification.TaskType, b), asynq.TaskID(first.ID), asynq.Queue(notification.QueueName)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, p); err != nil {
		t.Fatal(err)
	}
	if ids := pending(t, rdb); len(ids) != 1 || ids[0] != first.ID {
		t.Fatalf("after the repeat asynq holds %v; want only the old task %s", ids, first.ID)
	}
}

// A user's notifications, newest first, a page at a time.
func TestUserNotificationsPages(t *testing.T) {
	t.Parallel()
	q, _ := setup(t)
	ctx := t.Context()
	base := time.Now().UTC()
	for i := range 5 {
		p := payload("u-list", fmt.Sprintf("order-%d", i))
		p.CreatedAt = base.Add(time.Duration(i) * time.Millisecond)
		if _, err := q.Enqueue(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		list, next, err := q.UserNotifications(ctx, "u-list", cursor, 2)
		if err != nil || pages > 5 {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, st := range list {
			got = append(got, st.DedupeKey)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := "[order-4 order-3 order-2 order-1 order-0]"
	if fmt.Sprint(got) != want {
		t.Fatalf("pages gave %v; want %s", got, want)
	}
	if _, _, err := q.UserNotifications(ctx, "u-list", "12.xyz", 2); !errors.Is(err, notification.ErrBadCursor) {
		t.Fatalf("a made-up cursor: %v; want ErrBadCursor", err)
	}
}

// A retry written after another run of the task completed it (a run that
// came back late) leaves the record completed.
func TestRetryDoesNotReopenACompletedRecord(t *testing.T) {
	t.Parallel()
	q, _ := setup(t)
	ctx := t.Context()
	p := payload("u-late", "order-late")
	e, err := q.Enqueue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Finish(ctx, e.ID, p, 3, notification.StateCompleted, notification.Result{Status: notification.Delivered, MsgID: "1"}, "", "delivered", 0); err != nil {
		t.Fatal(err)
	}
	if err := q.Retry(ctx, e.ID, "busy", time.Now().Add(time.Minute), "retried_busy", -1, true); err != nil {
		t.Fatal(err)
	}
	if st, err := q.Status(ctx, e.ID); err != nil || st.State != notification.StateCompleted || st.Attempts != 1 {
		t.Fatalf("after a late retry: %+v, %v; want completed after 1 attempt", st, err)
	}
}

// A repeat lists nothing new: the same user keeps one entry at the first
// acceptance time, and a repeat that names another user shows that user
// nothing (the notification is the first user's).
func TestRepeatsListNothingNew(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	first := payload("u-owner", "order-r")
	if _, err := q.Enqueue(ctx, first); err != nil {
		t.Fatal(err)
	}
	again := first
	again.CreatedAt = first.CreatedAt.Add(time.Second)
	other := first
	other.UserID = "u-other"
	for _, p := range []notification.Payload{again, other} {
		if e, err := q.Enqueue(ctx, p); err != nil || !e.Duplicate {
			t.Fatalf("repeat: %+v, %v; want a duplicate", e, err)
		}
	}
	list, _, err := q.UserNotifications(ctx, "u-owner", "", 10)
	if err != nil || len(list) != 1 || !list[0].CreatedAt.Equal(first.CreatedAt.Truncate(time.Millisecond)) {
		t.Fatalf("owner's list %+v, %v; want the one notification, accepted first", list, err)
	}
	if list, _, err := q.UserNotifications(ctx, "u-other", "", 10); err != nil || len(list) != 0 {
		t.Fatalf("the other user's list %+v, %v; want empty", list, err)
	}
	// A server that lost its scripts (restarted, or a promoted replica)
	// still takes notifications: the pipelined EVALSHA falls back to EVAL.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if e, err := q.Enqueue(ctx, payload("u-owner", "order-after-flush")); err != nil || e.Duplicate {
		t.Fatalf("after SCRIPT FLUSH: %+v, %v; want accepted", e, err)
	}
	if list, _, _ := q.UserNotifications(ctx, "u-owner", "", 10); len(list) != 2 {
		t.Fatalf("owner's list after the flush: %d entries; want 2", len(list))
	}
}

// A user's list keeps the newest 100 and lives in the user's binding hash,
// which stays a compact listpack and keeps the binding readable.
func TestUserListIsBoundedAndCompact(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	rdb.HSet(ctx, subscriber.NewKeys(appID).Binding("u-many"), "openid", "o-many", "unionid", "", "bound_at", "2026-11-24T00:00:00Z")
	base := time.Now().UTC()
	for i := range 130 {
		p := payload("u-many", fmt.Sprintf("order-%03d", i))
		p.CreatedAt = base.Add(time.Duration(i) * time.Millisecond)
		if _, err := q.Enqueue(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	list, _, err := q.UserNotifications(ctx, "u-many", "", 100)
	if err != nil || len(list) != 100 || list[0].DedupeKey != "order-129" || list[99].DedupeKey != "order-030" {
		t.Fatalf("list of %d (%v): want the newest 100, order-129 … order-030", len(list), err)
	}
	key := subscriber.NewKeys(appID).Binding("u-many")
	if enc := rdb.ObjectEncoding(ctx, key).Val(); enc != "listpack" {
		t.Fatalf("the user's hash is %s; want listpack", enc)
	}
	b, ok, err := subscriber.New(rdb, appID, time.Hour).Lookup(ctx, "u-many")
	if err != nil || !ok || b.OpenID != "o-many" {
		t.Fatalf("binding after listing: %+v %v %v", b, ok, err)
	}
}

// The record of a delivered notification stays small: the figure that
// decides Redis's size at WeChat's daily quota.
func TestRecordIsCompact(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	p := payload("oAbCdEfGhIjKlMnOpQrStUvWxYz01", "order-TX20261124001")
	res, _ := q.Enqueue(ctx, p)
	_ = q.Finish(ctx, res.ID, p, 35, notification.StateCompleted, notification.Result{Status: notification.Delivered, MsgID: "1988810812324364291"}, "", "delivered", 0)
	_ = q.RecordWeChatResult(ctx, "1988810812324364291", notification.WeChatResult{ErrorStatus: "success", At: time.Now()})
	_ = q.Delivered(ctx, res.ID, "1988810812324364291")
	key := notification.NewKeys(appID).Record(res.ID)
	val := rdb.Get(ctx, key).Val()
	usage := rdb.MemoryUsage(ctx, key).Val()
	t.Logf("record %d bytes, %d with its key in Redis", len(val), usage)
	if usage > 320 {
		t.Fatalf("a delivered record takes %d bytes of Redis; want at most 320", usage)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("finished record TTL %s; want the retention (1h)", ttl)
	}
}

// An attempt shows the notification active, through a retry and a second
// attempt, and a run after it completed learns how, sending nothing; a run
// whose record is gone starts it again.
func TestBeginShowsActiveUntilCompleted(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-begin", "order-begin")
	e, err := q.Enqueue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	state := func(want string) {
		t.Helper()
		if st, err := q.Status(ctx, e.ID); err != nil || st.State != want || st.UserID != "u-begin" || st.DedupeKey != "order-begin" {
			t.Fatalf("status %+v, %v; want %s with its user and dedupe key", st, err, want)
		}
	}
	begin := func() (bool, notification.Result) {
		t.Helper()
		done, res, err := q.Begin(ctx, e.ID, p, 3)
		if err != nil {
			t.Fatal(err)
		}
		return done, res
	}
	state(notification.StatePending)
	if done, _ := begin(); done {
		t.Fatal("a pending notification begins as done")
	}
	state(notification.StateActive)
	if done, _ := begin(); done { // asynq ran it twice: still active
		t.Fatal("an active notification begins as done")
	}
	state(notification.StateActive)
	if err := q.Retry(ctx, e.ID, "busy", time.Now().Add(time.Minute), "retried_busy", -1, true); err != nil {
		t.Fatal(err)
	}
	state(notification.StateRetry)
	begin()
	state(notification.StateActive)
	res := notification.Result{Status: notification.Delivered, MsgID: "42"}
	if err := q.Finish(ctx, e.ID, p, 3, notification.StateCompleted, res, "", "delivered", 0); err != nil {
		t.Fatal(err)
	}
	if done, got := begin(); !done || got != res {
		t.Fatalf("after completion: done %v, %+v; want done with %+v", done, got, res)
	}
	state(notification.StateCompleted)

	if err := rdb.Del(ctx, notification.NewKeys(appID).Record(e.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	// Accepted moments ago: the record is taken to be on its way from the
	// api, and not written from the task.
	if _, _, err := q.Begin(ctx, e.ID, p, 3); !errors.Is(err, notification.ErrRecordOnItsWay) {
		t.Fatalf("a young task without its record: %v; want ErrRecordOnItsWay", err)
	}
	if _, err := q.Status(ctx, e.ID); !errors.Is(err, notification.ErrNotFound) {
		t.Fatalf("status after waiting for the record: %v; want not found", err)
	}
	p.CreatedAt = p.CreatedAt.Add(-time.Minute) // lost, not on its way
	if done, _ := begin(); done {
		t.Fatal("a lost record begins as done")
	}
	state(notification.StateActive)
}

// Accepting a notification is one round trip: its record and list entry
// ride in asynq's enqueue. A repeat while it is queued is one too.
func TestEnqueueIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	if _, err := q.Enqueue(ctx, payload("u-warm", "order-warm")); err != nil { // loads the scripts
		t.Fatal(err)
	}
	trips := redistest.Count(rdb)
	for _, dedupe := range []string{"order-rt", "order-rt"} {
		before := trips.N()
		if _, err := q.Enqueue(ctx, payload("u-rt", dedupe)); err != nil {
			t.Fatal(err)
		}
		if n := trips.N() - before; n != 1 {
			t.Errorf("an enqueue took %d round trips; want 1", n)
		}
	}
	st, err := q.Lookup(ctx, "order_arrived", "order-rt")
	if err != nil || st.State != notification.StatePending {
		t.Fatalf("status %+v, %v", st, err)
	}
	if list, _, _ := q.UserNotifications(ctx, "u-rt", "", 10); len(list) != 1 {
		t.Fatalf("u-rt lists %d notifications; want 1", len(list))
	}
	if ids := pending(t, rdb); len(ids) != 2 {
		t.Fatalf("asynq holds %v; want the two notifications' tasks", ids)
	}
}

// A repeat of an archived notification queues nothing that could send: the
// task it queued is deleted, and one a worker took first begins as done —
// while the notification's own task, run again from the dashboard, runs.
func TestRepeatOfAnArchivedNotificationSendsNothing(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-arch", "order-arch")
	first, err := q.Enqueue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewInspectorFromRedisClient(rdb).DeleteAllPendingTasks(notification.QueueName); err != nil {
		t.Fatal(err)
	}
	if err := q.Finish(ctx, first.ID, p, 3, notification.StateArchived, notification.Result{}, "invalid openid", "archived_permanent", 40003); err != nil {
		t.Fatal(err)
	}
	repeat := payload("u-arch", "order-arch")
	repeat.CreatedAt = p.CreatedAt.Add(time.Second)
	again, err := q.Enqueue(ctx, repeat)
	if err != nil || !again.Duplicate || again.State != notification.StateArchived {
		t.Fatalf("repeat: %+v, %v; want the archived duplicate", again, err)
	}
	if ids := pending(t, rdb); len(ids) != 0 {
		t.Fatalf("a repeat of an archived notification left %v queued", ids)
	}
	if done, _, err := q.Begin(ctx, first.ID, repeat, 3); err != nil || !done {
		t.Fatalf("a repeat's task begins: done %v, %v; want done", done, err)
	}
	if done, _, err := q.Begin(ctx, first.ID, p, 3); err != nil || done {
		t.Fatalf("its own task begins: done %v, %v; want it to run", done, err)
	}
}
