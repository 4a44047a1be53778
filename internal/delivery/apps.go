package delivery

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
)

// ByQueue is the worker's one asynq.Handler for every app: each app has a
// queue of its own, and a task is delivered by the Handler of the queue it
// came from, with that app's token, send rate and records.
type ByQueue map[string]*Handler

// ProcessTask hands t to its queue's Handler.
func (b ByQueue) ProcessTask(ctx context.Context, t *asynq.Task) error {
	q, _ := asynq.GetQueueName(ctx)
	h, ok := b[q]
	if !ok {
		// The server dequeues only the apps' queues; this is a wiring bug.
		return fmt.Errorf("no app is served from queue %q", q)
	}
	return h.ProcessTask(ctx, t)
}
