package notification

import (
	"strconv"

	"context"
	"errors"
	"fmt"
	"time"
	"wxnotify/internal/subscriber"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Queue enqueues notifications and reports their status.
type Queue struct {
	rdb       redis.UniversalClient
	keys      subscriber.Keys
	client    *asynq.Client
	inspector *asynq.Inspector
	retention time.Duration
	maxRetry  int
}

// NewQueue shares the process's go-redis client with asynq. retention keeps
// a finished notification (and its dedupe key) that long; maxRetry bounds
// the worker's retries of a failing send.
func NewQueue(rdb redis.UniversalClient, appID string, retention time.Duration, maxRetry int) *Queue {
	return &Queue{
		rdb: rdb, keys: subscriber.NewKeys(appID),
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		retention: retention,
		maxRetry:  maxRetry,
	}
}

// Enqueued is the answer to an enqueue.
type Enqueued struct {
	ID    string
	State string
	// Duplicate reports that the notification was already enqueued (same
	// template and dedupe key within the retention window); nothing new was queued.
	Duplicate bool
}

// Enqueue queues p once: a repeat of the same template and dedupe key is
// answered with the existing task.
func (q *Queue) Enqueue(ctx context.Context, p Payload) (Enqueued, error) {
	b, err := p.Encode()
	if err != nil {
		return Enqueued{}, fmt.Errorf("encode notification: %w", err)
	}
	id := TaskID(p.Template, p.DedupeKey)
	opts := []asynq.Option{
		asynq.TaskID(id), asynq.Queue(QueueName), asynq.Retention(q.retention),
		asynq.MaxRetry(q.maxRetry), asynq.Timeout(time.Minute),
	}
	if p.SendAt != nil {
		opts = append(opts, asynq.ProcessAt(*p.SendAt))
	}
	// Twice at most: a conflicting task may finish its retention between
	// the enqueue and the status read, and then the second enqueue is new.
	for range 2 {
		info, err := q.client.EnqueueContext(ctx, asynq.NewTask(TaskType, b), opts...)
		if err == nil {
			return Enqueued{ID: info.ID, State: info.State.String()}, nil
		}
		if !errors.Is(err, asynq.ErrTaskIDConflict) {
			return Enqueued{}, fmt.Errorf("enqueue notification: %w", err)
		}
		st, err := q.Status(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return Enqueued{}, err
		}
		return Enqueued{ID: id, State: st.State, Duplicate: true}, nil
	}
	return Enqueued{}, fmt.Errorf("enqueue notification %s: conflicting task vanished twice", id)
}

// ErrNotFound is returned for a notification id that does not exist (never
// enqueued, or its retention has passed).
var ErrNotFound = errors.New("notification not found")

// Status is what is known about one notification.
type Status struct {
	ID        string
	Template  string
	DedupeKey string
	// State is asynq's: pending, scheduled, active, retry, archived, completed.
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
}

// WeChatResult is what subscribe_msg_sent_event said about a delivered message.
type WeChatResult struct {
	ErrorCode   int       `json:"error_code"`
	ErrorStatus string    `json:"error_status"`
	At          time.Time `json:"at"`
}

// Status reads the state of notification id.
func (q *Queue) Status(ctx context.Context, id string) (Status, error) {
	info, err := inspect(ctx, func() (*asynq.TaskInfo, error) { return q.inspector.GetTaskInfo(QueueName, id) })
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return Status{}, ErrNotFound
	}
	if err != nil {
		return Status{}, fmt.Errorf("read notification %s: %w", id, err)
	}
	st := statusOf(info)
	if st.Result == nil || st.Result.MsgID == "" {
		return st, nil
	}
	if m, err := q.rdb.HGetAll(ctx, q.keys.WeChatResult(st.Result.MsgID)).Result(); err == nil && m["at"] != "" {
		code, _ := strconv.Atoi(m["error_code"])
		at, _ := time.Parse(time.RFC3339, m["at"])
		st.WeChat = &WeChatResult{ErrorCode: code, ErrorStatus: m["error_status"], At: at}
	}
	return st, nil
}

// RecordWeChatResult stores WeChat's final status of the message msgid.
// It is kept whether or not the worker has recorded the msgid yet: WeChat
// gives no ordering between its push and its answer to the send, and Status
// finds it through the delivered notification's msgid either way.
func (q *Queue) RecordWeChatResult(ctx context.Context, msgid string, r WeChatResult) error {
	key := q.keys.WeChatResult(msgid)
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "error_code", r.ErrorCode, "error_status", r.ErrorStatus, "at", r.At.UTC().Format(time.RFC3339))
		p.Expire(ctx, key, q.retention)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record WeChat result of msgid %s: %w", msgid, err)
	}
	return nil
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
