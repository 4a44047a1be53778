// Package ratelimit bounds how often something happens across every
// process of a deployment, with a GCRA limiter kept in Redis
// (github.com/go-redis/redis_rate).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limiter allows at most a rate of events per key.
type Limiter struct {
	l      *redis_rate.Limiter
	prefix string
	limit  redis_rate.Limit
	// lease > 1 takes that many events from Redis at once and hands them
	// out locally, sparing a round trip per event.
	lease int

	mu    sync.Mutex
	spare map[string]int
}

// PerMinute allows n events a minute per key, with bursts of n. Keys live
// under prefix (redis_rate adds its own "rate:" in front).
func PerMinute(rdb redis.UniversalClient, prefix string, n int) *Limiter {
	return &Limiter{l: redis_rate.NewLimiter(rdb), prefix: prefix, limit: redis_rate.PerMinute(n)}
}

// PerSecond allows n events a second per key, with bursts of burst. Each
// process leases events from Redis a few at a time (a hundredth of a
// second's worth, 1 to 16), so that a busy worker does not spend a Redis
// round trip per send; the shared rate holds, a lease's events just start
// a little earlier.
func PerSecond(rdb redis.UniversalClient, prefix string, n, burst int) *Limiter {
	return &Limiter{
		l: redis_rate.NewLimiter(rdb), prefix: prefix,
		limit: redis_rate.Limit{Rate: n, Burst: burst, Period: time.Second},
		lease: max(1, min(16, n/100, burst)), spare: map[string]int{},
	}
}

// Allow takes one event for key; when none is left it says how long until one is.
func (l *Limiter) Allow(ctx context.Context, key string) (retryAfter time.Duration, ok bool, err error) {
	if l.lease > 1 {
		l.mu.Lock()
		if l.spare[key] > 0 {
			l.spare[key]--
			l.mu.Unlock()
			return 0, true, nil
		}
		l.mu.Unlock()
	}
	res, err := l.l.AllowN(ctx, l.prefix+key, l.limit, max(1, l.lease))
	if err != nil {
		return 0, false, fmt.Errorf("rate limit %s: %w", l.prefix, err)
	}
	if res.Allowed == 0 && l.lease > 1 {
		// Not a whole lease left: take what there is one event at a time.
		if res, err = l.l.Allow(ctx, l.prefix+key, l.limit); err != nil {
			return 0, false, fmt.Errorf("rate limit %s: %w", l.prefix, err)
		}
	}
	if res.Allowed > 1 {
		l.mu.Lock()
		l.spare[key] += res.Allowed - 1
		l.mu.Unlock()
	}
	return res.RetryAfter, res.Allowed > 0, nil
}

// Backlog is how far the shared schedule of key runs ahead of now: zero
// when the limit is idle; at n events a second, Backlog·n events of the
// burst are in use. One GET, for the operator console; it takes nothing.
func Backlog(ctx context.Context, rdb redis.UniversalClient, prefix, key string) (time.Duration, error) {
	v, err := rdb.Get(ctx, "rate:"+prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read rate limit %s: %w", prefix, err)
	}
	// redis_rate keeps the GCRA's theoretical arrival time, in seconds since
	// 2017-01-01 UTC (to keep the float's precision).
	tat, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("read rate limit %s: %q: %w", prefix, v, err)
	}
	const jan2017 = 1483228800
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("read Redis time: %w", err)
	}
	ahead := tat - (float64(now.UnixMicro())/1e6 - jan2017)
	return max(0, time.Duration(ahead*float64(time.Second))), nil
}
