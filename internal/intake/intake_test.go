package intake_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/intake"
	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
	"wxnotify/internal/task"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const appID = "wxappid0000000001"

type fixture struct {
	q       *intake.Queue
	records *record.Store
	rdb     *redis.Client
}

func setup(t *testing.T) (fixture, *redis.Client) {
	t.Helper()
	rdb := redistest.Lend(t).Client(t)
	records := record.NewStore(rdb, appID, time.Hour)
	return fixture{q: intake.New(rdb, records, task.QueueName, 3), records: records, rdb: rdb}, rdb
}

func payload(user, dedupe string) task.Payload {
	return task.Payload{
		Template: "order_arrived", TemplateID: "T", UserID: user, DedupeKey: dedupe,
		Data: map[string]string{"thing1": "x"}, CreatedAt: time.Now().UTC(),
	}
}

// pending lists the ids asynq holds in the notifications queue.
func pending(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	tasks, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(task.QueueName)
	if err != nil && err.Error() != "asynq: queue not found" {
		t.Fatal(err)
	}
	var ids []string
	for _, ti := range tasks {
		ids = append(ids, ti.ID)
	}
	return ids
}

// finish writes how notification id ended, as the worker does.
func (f fixture) finish(t *testing.T, id string, p task.Payload, state record.State, res record.Result, step record.Step) {
	t.Helper()
	if err := redisconn.RunScripts(t.Context(), f.rdb, f.records.FinishCall(id, record.From(p, 3), state, res, step)); err != nil {
		t.Fatal(err)
	}
}

// A repeat of (template, dedupe_key) is a duplicate for as long as the
// record lives, long after asynq let go of its task; the record, not asynq,
// answers the status.
func TestDuplicateOutlivesTheTask(t *testing.T) {
	t.Parallel()
	f, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-1", "order-1")
	first, err := f.q.Enqueue(ctx, p)
	if err != nil || first.Duplicate || first.State != record.Pending {
		t.Fatalf("first: %+v, %v", first, err)
	}
	// The worker completes it and asynq forgets the task (no retention).
	f.finish(t, first.ID, p, record.Completed, record.Result{Status: record.Delivered, MsgID: "7"}, record.Step{Outcome: "delivered"})
	if _, err := asynq.NewInspectorFromRedisClient(rdb).DeleteAllPendingTasks(task.QueueName); err != nil {
		t.Fatal(err)
	}
	again, err := f.q.Enqueue(ctx, payload("u-2", "order-1"))
	if err != nil || !again.Duplicate || again.ID != first.ID || again.State != record.Completed {
		t.Fatalf("repeat: %+v, %v; want the completed duplicate", again, err)
	}
	if ids := pending(t, rdb); len(ids) != 0 {
		t.Fatalf("a repeat of a completed notification queued %v", ids)
	}
	st, err := f.records.Lookup(ctx, "order_arrived", "order-1")
	if err != nil || st.ID != first.ID || st.Result.MsgID != "7" || st.Attempts != 1 || len(st.History) != 1 || st.History[0].Outcome != "delivered" {
		t.Fatalf("lookup: %+v, %v", st, err)
	}
	// The repeat named another user: only the first user lists it.
	if list, _, _ := f.records.UserNotifications(ctx, "u-2", "", 10); len(list) != 0 {
		t.Fatalf("u-2 lists %d notifications; want none", len(list))
	}
}

// Concurrent repeats make one record and one task.
func TestConcurrentRepeatsQueueOnce(t *testing.T) {
	t.Parallel()
	f, rdb := setup(t)
	var wg sync.WaitGroup
	fresh := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			res, err := f.q.Enqueue(context.Background(), payload("u-1", "order-race"))
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
	f, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-1", "order-crash")
	// What the dying process got done: the record, not the task.
	dying := intake.New(rdb, f.records, task.QueueName, 3)
	first, err := dying.Enqueue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewInspectorFromRedisClient(rdb).DeleteAllPendingTasks(task.QueueName); err != nil {
		t.Fatal(err)
	}
	repeat, err := f.q.Enqueue(ctx, p)
	if err != nil || repeat.ID != first.ID {
		t.Fatalf("repeat: %+v, %v", repeat, err)
	}
	if ids := pending(t, rdb); len(ids) != 1 || ids[0] != task.TaskID(first.ID) {
		t.Fatalf("after the repeat asynq holds %v; want the task %s", ids, task.TaskID(first.ID))
	}
	// A further repeat while it is queued queues nothing more.
	if _, err := f.q.Enqueue(ctx, p); err != nil {
		t.Fatal(err)
	}
	if ids := pending(t, rdb); len(ids) != 1 {
		t.Fatalf("after a second repeat asynq holds %v; want one task", ids)
	}
}

// A task queued before task ids were dotted (task.TaskID) is under
// the notification id itself: a repeat finds it and queues no second task.
func TestRepeatFindsATaskQueuedUnderTheOldID(t *testing.T) {
	t.Parallel()
	f, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-1", "order-old")
	first, err := f.q.Enqueue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewInspectorFromRedisClient(rdb).DeleteAllPendingTasks(task.QueueName); err != nil {
		t.Fatal(err)
	}
	b, _ := p.Encode()
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask(task.Type, b), asynq.TaskID(first.ID), asynq.Queue(task.QueueName)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.Enqueue(ctx, p); err != nil {
		t.Fatal(err)
	}
	if ids := pending(t, rdb); len(ids) != 1 || ids[0] != first.ID {
		t.Fatalf("after the repeat asynq holds %v; want only the old task %s", ids, first.ID)
	}
}

// Accepting a notification is two round trips, the record first: a
// worker never takes a task whose record is not there yet. The test
// watches every command the client sends and, when asynq's enqueue goes
// out, looks for the record: were the order ever reversed — by us or by a
// change in how asynq sends its commands — it fails.
func TestEnqueueWritesTheRecordBeforeTheTask(t *testing.T) {
	t.Parallel()
	f, rdb := setup(t)
	ctx := t.Context()
	if _, err := f.q.Enqueue(ctx, payload("u-warm", "order-warm")); err != nil { // loads the scripts
		t.Fatal(err)
	}
	trips := redistest.Count(rdb)
	id := task.ID("order_arrived", "order-rt")
	var seen, before int
	observer := redis.NewClient(rdb.Options()) // its commands are not the enqueue's
	t.Cleanup(func() { _ = observer.Close() })
	rdb.AddHook(recordBeforeTask{
		taskID: task.TaskID(id),
		check: func() {
			seen++
			if observer.Exists(context.Background(), f.records.Keys().Record(id)).Val() == 1 {
				before++
			}
		},
	})
	for _, dedupe := range []string{"order-rt", "order-rt"} {
		n := trips.N()
		if _, err := f.q.Enqueue(ctx, payload("u-rt", dedupe)); err != nil {
			t.Fatal(err)
		}
		if got := trips.N() - n; got != 2 {
			t.Errorf("an enqueue took %d round trips; want 2 (the record, then the task)", got)
		}
	}
	if seen != 2 || before != 2 {
		t.Fatalf("asynq's enqueue went out %d times, %d of them after the record; want 2 and 2", seen, before)
	}
	st, err := f.records.Lookup(ctx, "order_arrived", "order-rt")
	if err != nil || st.State != record.Pending {
		t.Fatalf("status %+v, %v", st, err)
	}
	if ids := pending(t, rdb); len(ids) != 2 {
		t.Fatalf("asynq holds %v; want the two notifications' tasks", ids)
	}
}

// recordBeforeTask calls check whenever a command or pipeline that names
// the task goes out, before it does.
type recordBeforeTask struct {
	taskID string
	check  func()
}

func (recordBeforeTask) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h recordBeforeTask) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.inspect(cmd)
		return next(ctx, cmd)
	}
}

func (h recordBeforeTask) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			h.inspect(cmd)
		}
		return next(ctx, cmds)
	}
}

func (h recordBeforeTask) inspect(cmd redis.Cmder) {
	for _, arg := range cmd.Args() {
		if s, ok := arg.(string); ok && strings.HasSuffix(s, ":t:"+h.taskID) {
			h.check()
			return
		}
	}
}

// A repeat of an archived notification queues nothing: the record answers
// it, and the archived task stays asynq's, to be run again from the
// dashboard.
func TestRepeatOfAnArchivedNotificationQueuesNothing(t *testing.T) {
	t.Parallel()
	f, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-arch", "order-arch")
	first, err := f.q.Enqueue(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewInspectorFromRedisClient(rdb).DeleteAllPendingTasks(task.QueueName); err != nil {
		t.Fatal(err)
	}
	f.finish(t, first.ID, p, record.Archived, record.Result{}, record.Step{Outcome: "archived_permanent", ErrCode: 40003, Error: "invalid openid"})
	repeat := payload("u-arch", "order-arch")
	repeat.CreatedAt = p.CreatedAt.Add(time.Second)
	again, err := f.q.Enqueue(ctx, repeat)
	if err != nil || !again.Duplicate || again.State != record.Archived {
		t.Fatalf("repeat: %+v, %v; want the archived duplicate", again, err)
	}
	if ids := pending(t, rdb); len(ids) != 0 {
		t.Fatalf("a repeat of an archived notification left %v queued", ids)
	}
}
