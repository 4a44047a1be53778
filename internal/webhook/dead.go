package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"wxnotify/internal/redisconn"
)

// Dead is an event whose retries ran out: asynq archived its task. asynq
// keeps an archived task 90 days, and at most 10,000 of them per queue.
type Dead struct {
	Event Event
	// LastError is why the last try failed (the receiver's status and the
	// start of its answer, or the transport's error), at FailedAt.
	LastError string
	FailedAt  time.Time
	// Tries is how many POSTs were made.
	Tries int
}

// DeadPageSize is how many dead events a page lists.
const DeadPageSize = 30

// DeadList is page (from 1) of app's dead events in queue (Queue), the
// latest failure first: the archived set of the webhook queue, which asynqmon
// shows as well and where an event is re-run (its Run button: asynq's
// Inspector.RunTask). A queue nothing was ever queued on has none.
func DeadList(ctx context.Context, ins *asynq.Inspector, queue string, page int) ([]Dead, error) {
	tasks, err := redisconn.Inspect(ctx, func() ([]*asynq.TaskInfo, error) {
		return ins.ListArchivedTasks(queue, asynq.Page(page), asynq.PageSize(DeadPageSize))
	})
	switch {
	case errors.Is(err, asynq.ErrQueueNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("list dead webhook events of %s: %w", queue, err)
	}
	out := make([]Dead, 0, len(tasks))
	for _, t := range tasks {
		d := Dead{LastError: t.LastErr, FailedAt: t.LastFailedAt, Tries: t.Retried + 1}
		if err := json.Unmarshal(t.Payload, &d.Event); err != nil || d.Event.ID == "" {
			d.Event.ID = t.ID // not an event of this package's: shown by its task id
		}
		out = append(out, d)
	}
	return out, nil
}
