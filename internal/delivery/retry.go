package delivery

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// retryAfter is what a handler's error tells asynq of a retry: the delay
// the attempt chose (and wrote into the record, so that the status shows
// when it will run), and whether it counts against the task's retries.
type retryAfter struct {
	delay time.Duration
	// failure is false for a deferral: a wait imposed on us, not a failure.
	failure bool
	err     error
}

func (r *retryAfter) Error() string { return r.err.Error() }
func (r *retryAfter) Unwrap() error { return r.err }

// IsFailure tells asynq which errors count against a task's retries: all
// but a deferral.
func IsFailure(err error) bool {
	var r *retryAfter
	return !errors.As(err, &r) || r.failure
}

// RetryDelay is asynq's RetryDelayFunc: the delay the attempt chose; a
// second for a task recovered from a crashed worker; the back-off for any
// other error (a handler's panic).
func RetryDelay(base, limit time.Duration) asynq.RetryDelayFunc {
	return func(n int, err error, _ *asynq.Task) time.Duration {
		var r *retryAfter
		if errors.As(err, &r) {
			return r.delay
		}
		if errors.Is(err, asynq.ErrLeaseExpired) {
			return time.Second
		}
		return backoff(base, limit, n)
	}
}

// backoff is the wait before retry n+1 of a transient failure: base·2^n,
// ±10 % jitter, up to limit.
func backoff(base, limit time.Duration, n int) time.Duration {
	d := limit
	if n < 40 && base<<n > 0 && base<<n < limit {
		d = base << n
	}
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
