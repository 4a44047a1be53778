package redisconn

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RideOutOutages makes every command of c that has a deadline wait out a
// Redis outage (refused or dropped connections, a restarting server still
// loading its data, a failover in progress) until Redis answers or the
// deadline passes, instead of failing at once. Commands without a deadline
// fail as before.
//
// It is for the worker. asynq moves a finished task to its next state
// (completed, retry, archived) with one write bounded by the task's lease;
// if that write fails, asynq v0.26 retries it with a context it has already
// cancelled, and the task waits for the recoverer: its 30 s lease plus a
// scan every minute. Riding out the outage inside that write completes the
// task as soon as Redis is back. The api does not use it: a request answers
// 503 within REDIS_TIMEOUT instead.
//
// Each try gets at most try of the deadline. The client's sockets take
// their deadlines from the caller's context, so without that bound one
// connection that stopped answering without closing — seen once in a
// Sentinel failover — would hold the command until the caller's deadline
// instead of letting it try a fresh connection. Keep try well above
// Redis's slowest answer: a command whose answer merely came late is made
// again, as after a dropped connection.
func RideOutOutages(c redis.UniversalClient, try time.Duration) {
	c.AddHook(outageHook{first: 20 * time.Millisecond, most: 500 * time.Millisecond, try: try})
}

type outageHook struct{ first, most, try time.Duration }

func (outageHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h outageHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return h.ride(ctx, func(ctx context.Context) error { return next(ctx, cmd) })
	}
}

func (h outageHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return h.ride(ctx, func(ctx context.Context) error { return next(ctx, cmds) })
	}
}

// ride runs do again, backing off, while it fails because Redis is away
// (or a try ran out of its own time) and ctx's deadline has not passed.
func (h outageHook) ride(ctx context.Context, do func(context.Context) error) error {
	if _, bounded := ctx.Deadline(); !bounded {
		return do(ctx)
	}
	wait := h.first
	for {
		tryCtx, cancel := context.WithTimeout(ctx, h.try)
		err := do(tryCtx)
		triedOut := tryCtx.Err() != nil && ctx.Err() == nil
		cancel()
		if !Unavailable(err) && !triedOut {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, h.most)
	}
}

// Unavailable reports whether err means Redis could not be reached or could
// not serve yet (as opposed to an answer: a script error, a wrong type, a
// cancelled caller): trying again later may succeed.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, redis.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	for _, prefix := range []string{"LOADING ", "READONLY ", "MASTERDOWN ", "TRYAGAIN ", "CLUSTERDOWN "} {
		if strings.HasPrefix(err.Error(), prefix) {
			return true
		}
	}
	return false
}
