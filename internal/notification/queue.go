package notification

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Queue takes notifications for the api: it creates each one's record
// (the dedupe decision) and queues its task, and answers status, lookups
// and user listings from the records.
type Queue struct {
	*Records
	client    *asynq.Client
	inspector *asynq.Inspector
	maxRetry  int
}

// NewQueue shares the process's go-redis client with asynq. retention keeps
// a finished notification's record (and so its dedupe key) that long;
// maxRetry bounds the worker's retries of a failing send.
func NewQueue(rdb redis.UniversalClient, appID string, retention time.Duration, maxRetry int) *Queue {
	return &Queue{
		Records:   NewRecords(rdb, appID, retention),
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		maxRetry:  maxRetry,
	}
}

// userListLen bounds how many recent notifications a user's list keeps.
const userListLen = 100

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
// The record comes first. If this process dies before queueing the task,
// the record stays pending with no task; the client, which got no answer,
// repeats the call, and the repeat finds that and queues the task. asynq's
// task id keeps two such repeats from queueing it twice.
func (q *Queue) Enqueue(ctx context.Context, p Payload) (Enqueued, error) {
	id := TaskID(p.Template, p.DedupeKey)
	user := p.UserID
	if user == "" {
		user = p.OpenID
	}
	v, err := createRecord.Run(ctx, q.rdb, []string{q.keys.Record(id)}, newRecord(p, q.maxRetry), seconds(q.pendingTTL(p))).Slice()
	if err != nil || len(v) != 2 {
		return Enqueued{}, fmt.Errorf("create notification record: %w", err)
	}
	isNew, _ := v[0].(int64)
	rec, _ := v[1].(string)
	st, err := parseRecord(id, rec)
	if err != nil {
		return Enqueued{}, err
	}
	if isNew == 1 {
		// Only the request that created the record lists it, so a repeat
		// naming another user lists nothing.
		list := q.keys.UserList(user)
		_, err := q.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.ZAdd(ctx, list, redis.Z{Score: float64(p.CreatedAt.UnixMicro()), Member: id})
			pipe.ZRemRangeByRank(ctx, list, 0, -userListLen-1)
			pipe.Expire(ctx, list, q.pendingTTL(p))
			return nil
		})
		if err != nil {
			return Enqueued{}, fmt.Errorf("list notification: %w", err)
		}
		if err := q.queue(ctx, id, p); err != nil {
			return Enqueued{}, err
		}
		return Enqueued{ID: id, State: st.State}, nil
	}
	if st.State == StatePending || st.State == StateScheduled {
		// Accepted but perhaps never queued (see above): queue it now.
		_, err := inspect(ctx, func() (*asynq.TaskInfo, error) { return q.inspector.GetTaskInfo(QueueName, id) })
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			err = q.queue(ctx, id, p)
		}
		if err != nil {
			return Enqueued{}, fmt.Errorf("check the task of %s: %w", id, err)
		}
	}
	return Enqueued{ID: id, State: st.State, Duplicate: true}, nil
}

// queue puts notification id's task on asynq. asynq keeps it only while it
// is in flight: the record answers everything after (no retention).
func (q *Queue) queue(ctx context.Context, id string, p Payload) error {
	b, err := p.Encode()
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	opts := []asynq.Option{asynq.TaskID(id), asynq.Queue(QueueName), asynq.MaxRetry(q.maxRetry), asynq.Timeout(time.Minute)}
	if p.SendAt != nil {
		opts = append(opts, asynq.ProcessAt(*p.SendAt))
	}
	_, err = q.client.EnqueueContext(ctx, asynq.NewTask(TaskType, b), opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) { // a conflict: already queued
		return fmt.Errorf("enqueue notification: %w", err)
	}
	return nil
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
	return q.Status(ctx, TaskID(template, dedupeKey))
}

// UserNotifications lists a user's recent notifications, newest first:
// at most limit, accepted before the cursor (0: from the newest). next is
// the cursor of the following page, 0 when there is none.
func (q *Queue) UserNotifications(ctx context.Context, userID string, before int64, limit int) (list []Status, next int64, err error) {
	max := "+inf"
	if before > 0 {
		max = "(" + strconv.FormatInt(before, 10)
	}
	zs, err := q.rdb.ZRevRangeByScoreWithScores(ctx, q.keys.UserList(userID), &redis.ZRangeBy{Max: max, Min: "-inf", Count: int64(limit)}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("list notifications of %s: %w", userID, err)
	}
	if len(zs) == 0 {
		return nil, 0, nil
	}
	// One GET per record, pipelined: records live in different slots.
	cmds := make([]*redis.StringCmd, len(zs))
	_, err = q.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, z := range zs {
			cmds[i] = pipe.Get(ctx, q.keys.Record(z.Member.(string)))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("read notifications of %s: %w", userID, err)
	}
	for i, cmd := range cmds {
		rec, err := cmd.Result()
		if err != nil {
			continue // past its retention
		}
		st, err := parseRecord(zs[i].Member.(string), rec)
		if err != nil {
			return nil, 0, err
		}
		list = append(list, st)
	}
	if len(zs) == limit {
		next = int64(zs[len(zs)-1].Score)
	}
	return list, next, nil
}

// inspect runs an Inspector call, which takes no context, within ctx.
// The call itself is bounded by the client's timeouts.
func inspect(ctx context.Context, call func() (*asynq.TaskInfo, error)) (*asynq.TaskInfo, error) {
	type res struct {
		info *asynq.TaskInfo
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
		return nil, ctx.Err()
	}
}
