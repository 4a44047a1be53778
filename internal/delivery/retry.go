package delivery

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// deferred is an error that asks for a retry after a wait WeChat (or our
// limiter) imposes: not a failure, so it consumes no retry.
type deferred struct {
	wait time.Duration
	err  error
}

func (d *deferred) Error() string {
	return fmt.Sprintf("deferred %s: %v", d.wait.Round(time.Millisecond), d.err)
}
func (d *deferred) Unwrap() error { return d.err }

// atLeast is a transient failure with a minimum wait before the retry (-1: about a second).
type atLeast struct {
	wait time.Duration
	err  error
}

func (a *atLeast) Error() string { return a.err.Error() }
func (a *atLeast) Unwrap() error { return a.err }

// planned is a retry whose delay the handler chose (and recorded) already.
type planned struct {
	delay time.Duration
	err   error
}

func (p *planned) Error() string { return p.err.Error() }
func (p *planned) Unwrap() error { return p.err }

// IsFailure tells asynq which errors count against a task's retries: all
// but a deferral for a quota.
func IsFailure(err error) bool {
	var d *deferred
	return !errors.As(err, &d)
}

// RetryDelay is asynq's RetryDelayFunc: a deferral waits what it asks; a
// task recovered from a crashed worker runs again in a second; a transient
// failure backs off base·2^n (±10 % jitter) up to limit, but never less than
// the minimum its outcome asks.
func RetryDelay(base, limit time.Duration) asynq.RetryDelayFunc {
	return func(n int, err error, _ *asynq.Task) time.Duration {
		var pl *planned
		if errors.As(err, &pl) {
			return pl.delay
		}
		var d *deferred
		if errors.As(err, &d) {
			return d.wait
		}
		if errors.Is(err, asynq.ErrLeaseExpired) {
			return time.Second
		}
		backoff := limit
		if n < 40 && base<<n > 0 && base<<n < limit {
			backoff = base << n
		}
		backoff = time.Duration(float64(backoff) * (0.9 + 0.2*rand.Float64()))
		var a *atLeast
		if errors.As(err, &a) {
			backoff = max(backoff, a.wait)
		}
		return backoff
	}
}
