package delivery

import (
	"context"
	"log/slog"
	"time"
)

// Writing what must not be lost while Redis blinks.
//
// The worker's Redis client rides out an outage within each command's
// deadline (redisconn.RideOutOutages), which covers asynq's own writes of a
// finished task's state. Two records need more: asynq's result writer runs
// without a deadline, so a failed write would simply be lost, and the sent
// marker decides whether a later run of the task sends again. Both are
// written here with persist, which keeps trying while the attempt may still
// run.

// Back-off between pings of an unreachable Redis: quick at first (a blip),
// at most half a second apart (a restart).
const (
	awaitFirst = 20 * time.Millisecond
	awaitMax   = 500 * time.Millisecond
)

// awaitRedis returns once Redis answers a PING, or when ctx ends.
func (h *Handler) awaitRedis(ctx context.Context) {
	wait := awaitFirst
	for h.rdb.Ping(ctx).Err() != nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, awaitMax)
	}
}

// persist runs write until it succeeds or ctx ends, waiting for Redis
// between tries. It is for the records that decide what a later run of the
// task does — the sent marker, the result, a grant given back — which must
// not be dropped because Redis blinked. It returns the last error if ctx
// ended first.
func (h *Handler) persist(ctx context.Context, taskID, what string, write func(context.Context) error) error {
	err := write(ctx)
	if err == nil {
		return nil
	}
	h.log.Warn(what+" not written: waiting for Redis", slog.String("task_id", taskID), slog.Any("error", err))
	for ctx.Err() == nil {
		h.awaitRedis(ctx)
		if err = write(ctx); err == nil {
			h.log.Info(what+" written after Redis came back", slog.String("task_id", taskID))
			return nil
		}
	}
	return err
}

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
