package delivery

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	delay := RetryDelay(time.Second, time.Hour)
	plain := errors.New("wechat subscribe_send: HTTP status 500")
	for _, tc := range []struct {
		n        int
		err      error
		min, max time.Duration
	}{
		{0, plain, 900 * time.Millisecond, 1100 * time.Millisecond},
		{3, plain, 7200 * time.Millisecond, 8800 * time.Millisecond},
		{12, plain, 54 * time.Minute, 66 * time.Minute}, // 4096 s, capped at an hour
		{200, plain, 54 * time.Minute, 66 * time.Minute},
		{0, &retryAfter{delay: time.Minute, err: plain}, time.Minute, time.Minute},
		{5, fmt.Errorf("wrapped: %w", &retryAfter{delay: time.Hour, failure: true, err: plain}), time.Hour, time.Hour},
		{4, asynq.ErrLeaseExpired, time.Second, time.Second},
	} {
		for range 50 { // jitter: every draw within bounds
			if d := delay(tc.n, tc.err, nil); d < tc.min || d > tc.max {
				t.Fatalf("RetryDelay(%d, %v) = %s; want %s..%s", tc.n, tc.err, d, tc.min, tc.max)
			}
		}
	}
}

// About a day of attempts with the defaults (base 1 s, cap 1 h, 35 retries).
func TestDefaultRetriesSpanAboutADay(t *testing.T) {
	t.Parallel()
	var total time.Duration
	for n := range 35 {
		total += backoff(time.Second, time.Hour, n)
	}
	if total < 20*time.Hour || total > 28*time.Hour {
		t.Fatalf("35 retries span %s; want about a day", total)
	}
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	if IsFailure(&retryAfter{delay: time.Minute, err: errors.New("45011")}) || IsFailure(fmt.Errorf("x: %w", &retryAfter{err: errors.New("x")})) {
		t.Fatal("a deferral counted as a failure")
	}
	if !IsFailure(errors.New("timeout")) || !IsFailure(&retryAfter{failure: true, err: errors.New("-1")}) {
		t.Fatal("a transient failure not counted")
	}
}
