package accesstoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/wechat"
)

// compareAndDelete deletes KEYS[1] only while it still holds ARGV[1]: a
// process releases only its own lock, and drops only the token that failed
// (never the fresh one another process stored meanwhile).
var compareAndDelete = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// fetchAndStore fetches a token while holding the lock, stores it for every
// process, then releases the lock.
func (c *Cache) fetchAndStore(ctx context.Context, owner string) (string, error) {
	tok, err := c.fetchToken(ctx)
	if err != nil {
		if ttl, remember := refusalTTL(err, c.cfg.ErrorTTL); remember {
			if b, merr := encodeRefusal(err); merr == nil {
				// The operator's record of the refusal shares the round trip.
				_, _ = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, c.keys.err, b, ttl)
					p.HSet(ctx, c.keys.health, "refused_at", time.Now().Unix(), "refusal", string(b))
					return nil
				})
			}
		}
		compareAndDelete.Run(ctx, c.rdb, []string{c.keys.lock}, owner)
		return "", err
	}
	ttl := cacheTTL(tok.ExpiresIn, c.cfg.Margin)
	storing := time.Now()
	_, rerr := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, c.keys.token, tok.Value, ttl)
		p.Del(ctx, c.keys.err)
		// For operators (Health): once per token lifetime, in the same round trip.
		p.HSet(ctx, c.keys.health, "fetched_at", storing.Unix(), "expires_in", int64(tok.ExpiresIn/time.Second))
		// Eval, not Run: inside a pipeline Run's EVALSHA cannot fall back
		// when the server has not cached the script, and the lock would stay.
		compareAndDelete.Eval(ctx, p, []string{c.keys.lock}, owner)
		return nil
	})
	if rerr != nil {
		// The token is good; only sharing it failed. Keep it here for its
		// whole life so that this process does not fetch again in a loop.
		c.log.Warn("access_token fetched but not stored in Redis", slog.Any("error", rerr))
		c.remember(tok.Value, storing.Add(ttl))
		return tok.Value, nil
	}
	c.remember(tok.Value, storing.Add(min(ttl, c.cfg.LocalTTL)))
	return tok.Value, nil
}

// fetchAlone fetches without Redis, which failed with rerr: the token is
// still returned, and kept in this process for its whole life.
func (c *Cache) fetchAlone(ctx context.Context, rerr error) (string, error) {
	c.log.Warn("Redis unreachable: fetching access_token without the shared cache", slog.Any("error", rerr))
	tok, err := c.fetchToken(ctx)
	if err != nil {
		if ttl, remember := refusalTTL(err, c.cfg.ErrorTTL); remember {
			c.rememberErr(err, ttl)
		}
		return "", err
	}
	c.remember(tok.Value, time.Now().Add(cacheTTL(tok.ExpiresIn, c.cfg.Margin)))
	return tok.Value, nil
}

func (c *Cache) fetchToken(ctx context.Context) (wechat.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	defer cancel()
	start := time.Now()
	tok, err := c.fetch.StableToken(ctx, false)
	if err != nil {
		out := wechat.Classify(err)
		c.log.Error("access_token fetch failed", slog.String("class", out.Class.String()),
			slog.String("reason", out.Reason), slog.Int("errcode", out.Code), slog.Any("error", err))
		return wechat.Token{}, fmt.Errorf("fetch access_token: %w", err)
	}
	c.log.Info("access_token fetched", slog.Duration("expires_in", tok.ExpiresIn), slog.Duration("took", time.Since(start)))
	return tok, nil
}

// Invalidate drops the cached token if it is still failed, the one WeChat
// just refused, so that the next Get fetches again. A token another process
// already replaced is left alone.
func (c *Cache) Invalidate(ctx context.Context, failed string) error {
	c.mu.Lock()
	if c.local.value == failed {
		c.local = localEntry{}
	}
	c.mu.Unlock()
	n, err := compareAndDelete.Run(ctx, c.rdb, []string{c.keys.token}, failed).Int()
	if err != nil {
		return fmt.Errorf("invalidate access_token: %w", err)
	}
	if n == 1 {
		c.log.Info("access_token invalidated")
	}
	return nil
}

// refusalTTL says whether a failed fetch is worth remembering, and for how
// long: WeChat refusals that will repeat (configuration) or quotas (for
// their wait). Network trouble is not remembered.
func refusalTTL(err error, errorTTL time.Duration) (time.Duration, bool) {
	out := wechat.Classify(err)
	switch out.Class {
	case wechat.Permanent:
		return errorTTL, out.Code != 0
	case wechat.RateLimited:
		return max(out.Wait, errorTTL), true
	}
	return 0, false
}

func encodeRefusal(err error) ([]byte, error) {
	var we *wechat.Error
	if !errors.As(err, &we) {
		return nil, errors.New("not a WeChat answer")
	}
	return json.Marshal(we)
}

func decodeRefusal(b []byte) error {
	var we wechat.Error
	if err := json.Unmarshal(b, &we); err != nil || we.Code == 0 {
		return nil
	}
	return fmt.Errorf("fetch access_token (remembered refusal): %w", &we)
}
