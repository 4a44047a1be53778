// Package ratelimit bounds how often something happens across every
// process of a deployment, with a GCRA limiter kept in Redis
// (github.com/go-redis/redis_rate).
package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limiter allows at most a rate of events per key.
type Limiter struct {
	l      *redis_rate.Limiter
	prefix string
	limit  redis_rate.Limit
}

// PerMinute allows n events a minute per key, with bursts of n. Keys live
// under prefix (redis_rate adds its own "rate:" in front).
func PerMinute(rdb redis.UniversalClient, prefix string, n int) *Limiter {
	return &Limiter{l: redis_rate.NewLimiter(rdb), prefix: prefix, limit: redis_rate.PerMinute(n)}
}

// PerSecond allows n events a second per key, with bursts of burst.
func PerSecond(rdb redis.UniversalClient, prefix string, n, burst int) *Limiter {
	return &Limiter{l: redis_rate.NewLimiter(rdb), prefix: prefix, limit: redis_rate.Limit{Rate: n, Burst: burst, Period: time.Second}}
}

// Allow takes one event for key; when none is left it says how long until one is.
func (l *Limiter) Allow(ctx context.Context, key string) (retryAfter time.Duration, ok bool, err error) {
	res, err := l.l.Allow(ctx, l.prefix+key, l.limit)
	if err != nil {
		return 0, false, fmt.Errorf("rate limit %s: %w", l.prefix, err)
	}
	return res.RetryAfter, res.Allowed > 0, nil
}
