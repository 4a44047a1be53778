package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// wxnotify's two limits, and the keys they keep: this package names
// rate:wxnotify:… (redis_rate's) and wxnotify:<appid>:send_rate.

// Logins limits logins to perMinute per client IP across every app of the
// deployment: a login is limited before its app is known.
func Logins(rdb redis.UniversalClient, perMinute int) *Limiter {
	return PerMinute(rdb, "wxnotify:login:", perMinute)
}

// Sends is one app's send rate, shared by every worker: the limit the
// workers take slots of, and what the console shows of it.
type Sends struct {
	rdb   redis.UniversalClient
	appID string
}

// SendsOf is appid's send rate.
func SendsOf(rdb redis.UniversalClient, appID string) Sends { return Sends{rdb: rdb, appID: appID} }

func (s Sends) prefix() string { return "wxnotify:" + s.appID + ":send:" }

// rateKey holds the rate the last worker to start was configured with.
func (s Sends) rateKey() string { return "wxnotify:" + s.appID + ":send_rate" }

// Limiter allows perSecond sends, with bursts as large, keyed by the appid.
func (s Sends) Limiter(perSecond int) *Limiter {
	return PerSecond(s.rdb, s.prefix(), perSecond, perSecond)
}

// Backlog is how far the app's send schedule runs ahead of now.
func (s Sends) Backlog(ctx context.Context) (time.Duration, error) {
	return Backlog(ctx, s.rdb, s.prefix(), s.appID)
}

// Announce writes the configured rate for the console (the api does not
// read SEND_RATE_PER_SECOND): once, at a worker's start.
func (s Sends) Announce(ctx context.Context, perSecond int) error {
	if err := s.rdb.Set(ctx, s.rateKey(), perSecond, 0).Err(); err != nil {
		return fmt.Errorf("announce send rate: %w", err)
	}
	return nil
}

// Announced is the rate the last worker to start announced; 0 if none did.
func (s Sends) Announced(ctx context.Context) (int, error) {
	n, err := s.rdb.Get(ctx, s.rateKey()).Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read send rate: %w", err)
	}
	return n, nil
}
