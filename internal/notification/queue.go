package notification

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
)

// Queue takes notifications for the api: it creates each one's record
// (the dedupe decision) and queues its task, and answers status, lookups
// and user listings from the records. It serves one app.
type Queue struct {
	*Records
	// name is the app's asynq queue.
	name      string
	client    *asynq.Client
	inspector *asynq.Inspector
	maxRetry  int
}

// NewQueue shares the process's go-redis client with asynq. The app's
// notifications go through the asynq queue named queue (QueueName for a
// single-app deployment); retention keeps a finished notification's record
// (and so its dedupe key) that long; maxRetry bounds the worker's retries
// of a failing send.
func NewQueue(rdb redis.UniversalClient, appID, queue string, retention time.Duration, maxRetry int) *Queue {
	return &Queue{
		Records:   NewRecords(rdb, appID, retention),
		name:      queue,
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		maxRetry:  maxRetry,
	}
}

// userListLen is how many recent notifications a user's list keeps at
// least; it prunes back to that many once it holds listSlack more (besides
// the binding's own few fields).
const userListLen, listSlack = 100, 16

// Enqueued is the answer to an enqueue.
type Enqueued struct {
	ID    string
	State string
	// Duplicate reports that the notification was already accepted (same
	// template and dedupe key within the retention); nothing new was queued.
	Duplicate bool
}

// Enqueue accepts p once: its record is created if none exists for its
// template and dedupe key, and its task queued. A repeat is answered from
// the existing record.
//
// The record and the user's list entry ride in the round trip of asynq's
// enqueue (redisconn.RideAlong), ahead of it: one round trip in all. asynq's
// task id keeps a repeat of a notification in flight from queueing it
// twice. A repeat of one that asynq no longer holds gets a task queued all
// the same, as the same round trip could not know better:
//   - the record is pending or scheduled: it was accepted but its task was
//     never queued (the enqueue failed after the record was written, and
//     the client got an error and repeated the call). That task is the
//     repair, and it stays.
//   - the notification finished: the task is deleted at once. Should a
//     worker take it first, it sends nothing: a completed record ends any
//     run, and an archived one ends the runs of tasks other than its own
//     (Records.Begin).
func (q *Queue) Enqueue(ctx context.Context, p Payload) (Enqueued, error) {
	id := ID(p.Template, p.DedupeKey)
	user := p.UserID
	if user == "" {
		user = p.OpenID
	}
	// The record, and the user's list entry unless the user has it already:
	// a repeat naming another user leaves that user an entry the listing
	// skips (the record names its user).
	// Microseconds: notifications posted in one millisecond still list in
	// the order they came.
	cutoff := time.Now().Add(-q.pendingTTL(p)).UnixMicro()
	created := &redisconn.ScriptCall{Script: createRecord, Keys: []string{q.keys.Record(id)}, Args: []any{newRecord(p, q.maxRetry), seconds(q.pendingTTL(p))}}
	listed := &redisconn.ScriptCall{Script: listNotification, Keys: []string{q.keys.UserList(user)}, Args: []any{listField(id), p.CreatedAt.UnixMicro(), userListLen, cutoff, listSlack}}
	var queued bool
	var qerr error
	if redisconn.Rides(q.rdb) {
		rctx := redisconn.RideAlong(ctx, created, listed)
		if queued, qerr = q.queue(rctx, id, p); !redisconn.Ridden(rctx) {
			_ = redisconn.RunScripts(ctx, q.rdb, created, listed) // asynq made no call: none rode
		}
	} else if err := redisconn.RunScripts(ctx, q.rdb, created, listed); err == nil {
		// A client that takes no calls along: the record first, in a round
		// trip of its own.
		queued, qerr = q.queue(ctx, id, p)
	}
	v, err := created.Cmd.Slice()
	if err == nil && len(v) != 2 {
		err = fmt.Errorf("%d values in the answer, want 2", len(v))
	}
	if err == nil {
		err = listed.Cmd.Err()
	}
	if err != nil {
		return Enqueued{}, fmt.Errorf("create notification record: %w", err)
	}
	if qerr != nil {
		return Enqueued{}, qerr // the record is pending without its task: a repeat queues it
	}
	isNew, _ := v[0].(int64)
	rec, _ := v[1].(string)
	st, err := parseRecord(id, rec)
	if err != nil {
		return Enqueued{}, err
	}
	// (Once after Redis lost its scripts, the record's script runs by EVAL
	// right after the enqueue: a worker that takes the task in between
	// waits for the record rather than write it, ErrRecordOnItsWay, so that
	// this call does not find its own notification there.)
	if isNew == 1 {
		return Enqueued{ID: id, State: st.State}, nil
	}
	if queued {
		q.queuedForARepeat(ctx, id, st.State)
	}
	return Enqueued{ID: id, State: st.State, Duplicate: true}, nil
}

// queuedForARepeat handles a task queued by a repeat of notification id
// while asynq held none under its task id (Enqueue): it stays if it is the
// pending record's repair, and goes if the notification finished or its
// task is queued under its old id. Both are rare; a task left behind by a
// failure here sends nothing.
func (q *Queue) queuedForARepeat(ctx context.Context, id, state string) {
	if state == StatePending || state == StateScheduled {
		// A task queued before task ids took their dotted form (TaskID) is
		// under the notification id itself.
		_, err := inspect(ctx, func() (*asynq.TaskInfo, error) { return q.inspector.GetTaskInfo(q.name, id) })
		if err != nil {
			return // none (or unknown): the new task is the repair
		}
	}
	_ = inspectErr(ctx, func() error { return q.inspector.DeleteTask(q.name, TaskID(id)) })
}

// queue puts notification id's task on asynq; queued is false when asynq
// holds a task under its id already. asynq keeps it only while it is in
// flight: the record answers everything after (no retention).
func (q *Queue) queue(ctx context.Context, id string, p Payload) (queued bool, err error) {
	b, err := p.Encode()
	if err != nil {
		return false, fmt.Errorf("encode notification: %w", err)
	}
	opts := []asynq.Option{asynq.TaskID(TaskID(id)), asynq.Queue(q.name), asynq.MaxRetry(q.maxRetry), asynq.Timeout(time.Minute)}
	if p.SendAt != nil {
		opts = append(opts, asynq.ProcessAt(*p.SendAt))
	}
	_, err = q.client.EnqueueContext(ctx, asynq.NewTask(TaskType, b), opts...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("enqueue notification: %w", err)
	}
	return true, nil
}

// ErrNotFound is returned for a notification id that does not exist (never
// accepted, or past its retention).
var ErrNotFound = errors.New("notification not found")

// Status is what is known about one notification.
type Status struct {
	ID        string
	UserID    string
	Template  string
	DedupeKey string
	// State is pending, scheduled, active, retry, completed or archived.
	State string
	// Attempts counts the sends tried (waits for a WeChat quota are not attempts).
	Attempts      int
	MaxRetry      int
	LastError     string
	LastFailedAt  time.Time
	NextProcessAt time.Time
	CompletedAt   time.Time
	CreatedAt     time.Time
	SendAt        *time.Time
	Result        *Result
	// WeChat is WeChat's final word on the delivery, from its
	// subscribe_msg_sent_event push, once it has come.
	WeChat *WeChatResult
	// History is the notification's last attempts, oldest first.
	History []Attempt
}

// Status reads notification id's record.
func (q *Queue) Status(ctx context.Context, id string) (Status, error) {
	rec, err := q.rdb.Get(ctx, q.keys.Record(id)).Result()
	if errors.Is(err, redis.Nil) {
		return Status{}, ErrNotFound
	}
	if err != nil {
		return Status{}, fmt.Errorf("read notification %s: %w", id, err)
	}
	return parseRecord(id, rec)
}

// Lookup is Status by the template and dedupe key the order service posted.
func (q *Queue) Lookup(ctx context.Context, template, dedupeKey string) (Status, error) {
	return q.Status(ctx, ID(template, dedupeKey))
}

// ErrBadCursor is returned for a cursor UserNotifications did not give.
var ErrBadCursor = errors.New("not a cursor of this listing")

// UserNotifications lists a user's recent notifications, newest first: at
// most limit, after cursor ("" for the newest). next is the cursor of the
// following page, "" when there is none.
func (q *Queue) UserNotifications(ctx context.Context, userID, cursor string, limit int) (list []Status, next string, err error) {
	var after listEntry
	if cursor != "" {
		if after, err = parseCursor(cursor); err != nil {
			return nil, "", err
		}
	}
	all, err := q.rdb.HGetAll(ctx, q.keys.UserList(userID)).Result()
	if err != nil {
		return nil, "", fmt.Errorf("list notifications of %s: %w", userID, err)
	}
	var entries []listEntry
	for f, v := range all {
		if e, ok := readListEntry(f, v); ok && (cursor == "" || e.before(after)) {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b listEntry) int {
		if a.before(b) {
			return 1
		}
		return -1
	})
	if len(entries) > limit {
		next = entries[limit-1].cursor()
		entries = entries[:limit]
	}
	if len(entries) == 0 {
		return nil, "", nil
	}
	// One GET per record, pipelined: records live in different slots.
	cmds := make([]*redis.StringCmd, len(entries))
	_, err = q.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, e := range entries {
			cmds[i] = pipe.Get(ctx, q.keys.Record(e.hash))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("read notifications of %s: %w", userID, err)
	}
	for i, cmd := range cmds {
		rec, err := cmd.Result()
		if err != nil {
			continue // past its retention
		}
		st, err := parseRecord(entries[i].hash, rec)
		if err != nil {
			return nil, "", err
		}
		if st.UserID != userID {
			continue // a repeat of another user's notification named this user (Enqueue)
		}
		st.ID = st.Template + "-" + entries[i].hash
		list = append(list, st)
	}
	return list, next, nil
}

// listEntry is one notification in a user's list: its id's hash (hex) and
// when it was accepted (Unix µs).
type listEntry struct {
	hash string
	at   int64
}

// listField is the user-hash field that lists notification id.
func listField(id string) string {
	h := idHash(id)
	if raw, err := hex.DecodeString(h); err == nil {
		return "n:" + string(raw)
	}
	return "n:" + h
}

func readListEntry(field, value string) (listEntry, bool) {
	raw, ok := strings.CutPrefix(field, "n:")
	at, err := strconv.ParseInt(value, 10, 64)
	if !ok || err != nil || len(raw) != 16 {
		return listEntry{}, false
	}
	return listEntry{hash: hex.EncodeToString([]byte(raw)), at: at}, true
}

// before orders entries by acceptance time, then hash.
func (e listEntry) before(o listEntry) bool {
	return e.at < o.at || e.at == o.at && e.hash < o.hash
}

func (e listEntry) cursor() string { return strconv.FormatInt(e.at, 10) + "." + e.hash }

func parseCursor(c string) (listEntry, error) {
	at, h, ok := strings.Cut(c, ".")
	n, err := strconv.ParseInt(at, 10, 64)
	if _, herr := hex.DecodeString(h); !ok || err != nil || n <= 0 || herr != nil || len(h) != 32 {
		return listEntry{}, ErrBadCursor
	}
	return listEntry{hash: h, at: n}, nil
}

// QueueInfo is asynq's report on the notifications queue: its tasks by
// state and its latency.
func (q *Queue) QueueInfo(ctx context.Context) (*asynq.QueueInfo, error) {
	return inspect(ctx, func() (*asynq.QueueInfo, error) { return q.inspector.GetQueueInfo(q.name) })
}

// inspect runs an Inspector call, which takes no context, within ctx.
// The call itself is bounded by the client's timeouts.
func inspect[T any](ctx context.Context, call func() (T, error)) (T, error) {
	type res struct {
		info T
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		info, err := call()
		ch <- res{info, err}
	}()
	select {
	case r := <-ch:
		return r.info, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// inspectErr is inspect for an Inspector call that answers only an error.
func inspectErr(ctx context.Context, call func() error) error {
	_, err := inspect(ctx, func() (struct{}, error) { return struct{}{}, call() })
	return err
}
