package delivery

import (
	"context"
	"time"
)

// Writes that must not be lost while Redis blinks — the notification's
// outcome in its record, a grant given back — need no retry loop here: the
// worker's Redis client rides out an outage within each command's deadline
// (redisconn.RideOutOutages), the same mechanism that lets asynq's own write
// of a finished task's state wait for Redis. What the handler must give
// them is a deadline that outlives the attempt's own work — for the outcome
// of a run that claimed a grant, exactly the run's deadline, which its claim
// announces to other runs (settle).

// untilDeadline is ctx without its cancellation but with its deadline: for
// writes that must happen even though the attempt's own work was cut short
// (the attempt's context may be what just ran out).
func untilDeadline(ctx context.Context, fallback time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) < fallback {
		deadline = time.Now().Add(fallback)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}
