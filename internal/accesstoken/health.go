package accesstoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/wechat"
)

// Health is what the deployment knows about its access_token, for the
// operator console: never the token itself.
type Health struct {
	// Cached reports a token in Redis; ExpiresIn is how long it stays there.
	Cached    bool
	ExpiresIn time.Duration
	// FetchedAt is when a process last fetched one, Lifetime the expires_in
	// WeChat gave it (zero if no fetch was recorded).
	FetchedAt time.Time
	Lifetime  time.Duration
	// RefusedAt and Refusal are WeChat's last refusal to give a token (zero
	// if none was recorded); Refusing reports that it is still remembered,
	// so fetches wait for it to expire.
	RefusedAt time.Time
	Refusal   *wechat.Error
	Refusing  bool
}

// ReadHealth reads appID's token health in one round trip. The fetch and
// the refusal are recorded by the process that fetched, in the round trip
// that stores the token or the refusal: they cost nothing per send.
func ReadHealth(ctx context.Context, rdb redis.UniversalClient, appID string) (Health, error) {
	k := Key(appID)
	var ttl *redis.DurationCmd
	var refusing *redis.IntCmd
	var rec *redis.MapStringStringCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ttl = p.PTTL(ctx, k)
		refusing = p.Exists(ctx, k+":error")
		rec = p.HGetAll(ctx, k+":health")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Health{}, fmt.Errorf("read access_token health: %w", err)
	}
	var h Health
	if d := ttl.Val(); d > 0 {
		h.Cached, h.ExpiresIn = true, d
	}
	h.Refusing = refusing.Val() == 1
	m := rec.Val()
	h.FetchedAt = unix(m["fetched_at"])
	if n, err := strconv.ParseInt(m["expires_in"], 10, 64); err == nil {
		h.Lifetime = time.Duration(n) * time.Second
	}
	h.RefusedAt = unix(m["refused_at"])
	if m["refusal"] != "" {
		var we wechat.Error
		if json.Unmarshal([]byte(m["refusal"]), &we) == nil {
			h.Refusal = &we
		}
	}
	return h, nil
}

func unix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}
