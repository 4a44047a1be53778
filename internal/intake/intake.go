// Package intake is how the api accepts a notification: it creates the
// notification's record — the dedupe decision — and then queues its task
// for the worker.
package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/task"
)

// Queue accepts the notifications of one app.
type Queue struct {
	records *record.Store
	// name is the app's asynq queue.
	name      string
	client    *asynq.Client
	inspector *asynq.Inspector
	maxRetry  int
}

// New shares the process's go-redis client with asynq. The app's
// notifications go through the asynq queue named queue (task.QueueName for
// a single-app deployment) and their records into records; maxRetry bounds
// the worker's retries of a failing send.
func New(rdb redis.UniversalClient, records *record.Store, queue string, maxRetry int) *Queue {
	return &Queue{
		records:   records,
		name:      queue,
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		maxRetry:  maxRetry,
	}
}

// Accepted is the answer to an enqueue.
type Accepted struct {
	ID    string
	State record.State
	// Duplicate reports that the notification was already accepted (same
	// template and dedupe key within the retention); nothing new was queued.
	Duplicate bool
}

// Enqueue accepts p once. Two round trips, in this order:
//
//  1. its record is created unless one exists for its template and dedupe
//     key (record.Store.Create); a repeat is answered from the existing
//     record.
//  2. its task is queued — for a new notification, and for a repeat whose
//     record is not finished: the first call may have written the record
//     and failed before the task was queued, and the repeat is its repair.
//     asynq's task id (task.TaskID) keeps a notification in flight from
//     being queued twice.
//
// The record comes first, so that a worker never takes a task whose record
// is not there yet; a finished notification is never queued again.
func (q *Queue) Enqueue(ctx context.Context, p task.Payload) (Accepted, error) {
	id := task.IDOn(p.Channel, p.Template, p.DedupeKey)
	created, st, err := q.records.Create(ctx, id, record.From(p, q.maxRetry))
	if err != nil {
		return Accepted{}, err
	}
	if st.State.Finished() {
		return Accepted{ID: id, State: st.State, Duplicate: true}, nil
	}
	queued, err := q.queue(ctx, id, p)
	if err != nil {
		return Accepted{}, err // the record is pending without its task: a repeat queues it
	}
	if queued && !created {
		q.dropIfQueuedUnderTheOldID(ctx, id)
	}
	return Accepted{ID: id, State: st.State, Duplicate: !created}, nil
}

// dropIfQueuedUnderTheOldID deletes the task a repeat just queued for
// notification id if asynq holds its task under the id itself, as tasks
// were queued before task ids took their dotted form (task.TaskID). Should
// the delete fail, the second task sends nothing twice: the claim and the
// record see to that (package delivery).
func (q *Queue) dropIfQueuedUnderTheOldID(ctx context.Context, id string) {
	if _, err := redisconn.Inspect(ctx, func() (*asynq.TaskInfo, error) { return q.inspector.GetTaskInfo(q.name, id) }); err != nil {
		return // none (or unknown): the new task is the repair
	}
	_, _ = redisconn.Inspect(ctx, func() (struct{}, error) { return struct{}{}, q.inspector.DeleteTask(q.name, task.TaskID(id)) })
}

// queue puts notification id's task on asynq; queued is false when asynq
// holds a task under its id already. asynq keeps it only while it is in
// flight: the record answers everything after (no retention).
func (q *Queue) queue(ctx context.Context, id string, p task.Payload) (queued bool, err error) {
	b, err := p.Encode()
	if err != nil {
		return false, fmt.Errorf("encode notification: %w", err)
	}
	opts := []asynq.Option{asynq.TaskID(task.TaskID(id)), asynq.Queue(q.name), asynq.MaxRetry(q.maxRetry), asynq.Timeout(time.Minute)}
	if p.SendAt != nil {
		opts = append(opts, asynq.ProcessAt(*p.SendAt))
	}
	_, err = q.client.EnqueueContext(ctx, asynq.NewTask(task.Type, b), opts...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("enqueue notification: %w", err)
	}
	return true, nil
}

// QueueInfo is asynq's report on the notifications queue: its tasks by
// state and its latency.
func (q *Queue) QueueInfo(ctx context.Context) (*asynq.QueueInfo, error) {
	return redisconn.Inspect(ctx, func() (*asynq.QueueInfo, error) { return q.inspector.GetQueueInfo(q.name) })
}

// TaskInfo is asynq's report on notification id's task — its payload, as
// the worker sends it, and where asynq holds it — while asynq holds it:
// asynq.ErrTaskNotFound once the task completed (asynq deletes it), or
// before it was queued. A task queued under the id itself (before task
// ids took their dotted form) is found too.
func (q *Queue) TaskInfo(ctx context.Context, id string) (*asynq.TaskInfo, error) {
	info, err := redisconn.Inspect(ctx, func() (*asynq.TaskInfo, error) { return q.inspector.GetTaskInfo(q.name, task.TaskID(id)) })
	if errors.Is(err, asynq.ErrTaskNotFound) {
		info, err = redisconn.Inspect(ctx, func() (*asynq.TaskInfo, error) { return q.inspector.GetTaskInfo(q.name, id) })
	}
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil, asynq.ErrTaskNotFound // nothing queued yet
	}
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return nil, fmt.Errorf("read the task of %s: %w", id, err)
	}
	return info, err
}
