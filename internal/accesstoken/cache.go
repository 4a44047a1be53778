// Package accesstoken keeps one WeChat access_token per appid in Redis,
// shared by every process of a deployment, so that the whole deployment
// calls stable_token once per token lifetime however many replicas read it.
package accesstoken

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"wxnotify/internal/wechat"
)

// Fetcher gets a token from WeChat; *wechat.Client is one.
type Fetcher interface {
	StableToken(ctx context.Context, forceRefresh bool) (wechat.Token, error)
}

// Config tunes a Cache; AppID is required, the rest has defaults.
type Config struct {
	// AppID names the mini program; it is part of every key.
	AppID string
	// Margin is how long before WeChat's expiry the cached token is dropped
	// and fetched again (default 5 minutes: WeChat rolls the stable token in
	// its last 5 minutes, so the refetch gets the new one). The cache always
	// keeps a token for at least half its lifetime, so a short-lived token
	// never loops.
	Margin time.Duration
	// LockTTL bounds how long one process may hold the fetch lock (default
	// 10 s); if it dies holding it, another takes over after this long.
	LockTTL time.Duration
	// PollInterval is how often a process waiting for another's fetch looks
	// for the result (default 20 ms).
	PollInterval time.Duration
	// LocalTTL is how long a process reuses a token it read from Redis before
	// reading again (default 30 s; never past the token's own expiry). It
	// spares a Redis round trip per send.
	LocalTTL time.Duration
	// ErrorTTL is how long a refusal from WeChat (bad secret, frozen secret,
	// IP not whitelisted) is remembered, so that every task does not ask
	// again (default 30 s). Quota refusals are remembered for their wait.
	ErrorTTL time.Duration
	// FetchTimeout bounds one fetch (default 10 s), whatever the callers' contexts.
	FetchTimeout time.Duration
	Logger       *slog.Logger
}

// Cache is the shared token of one appid. It is safe for concurrent use.
type Cache struct {
	rdb   redis.UniversalClient
	fetch Fetcher
	cfg   Config
	keys  keys
	log   *slog.Logger
	sf    singleflight.Group

	mu    sync.Mutex
	local localEntry
}

// localEntry is what this process remembers without asking Redis.
type localEntry struct {
	value    string
	until    time.Time
	err      error
	errUntil time.Time
}

type keys struct{ token, lock, err, health string }

// Key is the Redis key holding appid's access_token. Its lock and remembered
// refusal sit beside it under the same hash tag, so the script that reads
// all three also runs on Redis Cluster.
func Key(appID string) string { return "wxnotify:{" + appID + ":access_token}" }

// New returns a Cache reading and writing through rdb and fetching with fetch.
func New(rdb redis.UniversalClient, fetch Fetcher, cfg Config) (*Cache, error) {
	if cfg.AppID == "" {
		return nil, errors.New("accesstoken: AppID is empty")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Margin, 5*time.Minute)
	def(&cfg.LockTTL, 10*time.Second)
	def(&cfg.PollInterval, 20*time.Millisecond)
	def(&cfg.LocalTTL, 30*time.Second)
	def(&cfg.ErrorTTL, 30*time.Second)
	def(&cfg.FetchTimeout, 10*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	k := Key(cfg.AppID)
	return &Cache{
		rdb: rdb, fetch: fetch, cfg: cfg,
		keys: keys{token: k, lock: k + ":lock", err: k + ":error", health: k + ":health"},
		log:  cfg.Logger.With(slog.String("appid", cfg.AppID)),
	}, nil
}

// Get returns the current access_token: the one this process holds, else
// the one in Redis, else a fresh one that exactly one process of the
// deployment fetches while the others wait for it.
func (c *Cache) Get(ctx context.Context) (string, error) {
	if v, err, ok := c.fromLocal(time.Now()); ok {
		return v, err
	}
	// One load per process at a time; it runs on its own deadline so that a
	// caller giving up does not fail the others waiting on the same load.
	ch := c.sf.DoChan("load", func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LockTTL+c.cfg.FetchTimeout)
		defer cancel()
		return c.load(lctx)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("access_token: %w", ctx.Err())
	}
}

func (c *Cache) fromLocal(now time.Time) (string, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local.value != "" && now.Before(c.local.until) {
		return c.local.value, nil, true
	}
	if c.local.err != nil && now.Before(c.local.errUntil) {
		return "", c.local.err, true
	}
	return "", nil, false
}

// remember keeps v in the process until the given time. Callers pass a time
// taken before the Redis call that produced v, so that the copy never
// outlives the shared entry.
func (c *Cache) remember(v string, until time.Time) {
	c.mu.Lock()
	c.local = localEntry{value: v, until: until}
	c.mu.Unlock()
}

func (c *Cache) rememberErr(err error, ttl time.Duration) {
	c.mu.Lock()
	c.local = localEntry{err: err, errUntil: time.Now().Add(ttl)}
	c.mu.Unlock()
}

// readOrLock, in one atomic step, returns the cached token with its
// remaining TTL, or a remembered refusal, or takes the fetch lock for
// ARGV[1]; otherwise someone else holds the lock. Atomic, so that no process
// can miss a token stored a moment ago and then fetch again under a lock
// just released.
var readOrLock = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v then
	return {"hit", v, redis.call("PTTL", KEYS[1])}
end
local refusal = redis.call("GET", KEYS[3])
if refusal then
	return {"refused", refusal, 0}
end
if redis.call("SET", KEYS[2], ARGV[1], "NX", "PX", ARGV[2]) then
	return {"locked", "", 0}
end
return {"wait", "", 0}`)

// load finds the token in Redis or takes the lock and fetches it.
func (c *Cache) load(ctx context.Context) (string, error) {
	owner := newOwner()
	for {
		asked := time.Now()
		res, err := readOrLock.Run(ctx, c.rdb, []string{c.keys.token, c.keys.lock, c.keys.err},
			owner, c.cfg.LockTTL.Milliseconds()).Slice()
		if err != nil {
			return c.fetchAlone(ctx, fmt.Errorf("read cached access_token: %w", err))
		}
		state, _ := res[0].(string)
		value, _ := res[1].(string)
		pttl, _ := res[2].(int64)
		switch state {
		case "hit":
			c.remember(value, asked.Add(localTTL(time.Duration(pttl)*time.Millisecond, c.cfg.LocalTTL)))
			return value, nil
		case "refused":
			if err := decodeRefusal([]byte(value)); err != nil {
				return "", err
			}
			// An unreadable refusal is ignored; the next look fetches.
		case "locked":
			return c.fetchAndStore(ctx, owner)
		}
		// Another process is fetching: look again shortly.
		t := time.NewTimer(c.cfg.PollInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("access_token: waiting for another process's fetch: %w", ctx.Err())
		}
	}
}

// localTTL is how long to keep a token read from Redis with remaining pttl.
func localTTL(pttl, limit time.Duration) time.Duration {
	if pttl <= 0 { // no expiry set, or it expired between the two reads
		return min(limit, time.Second)
	}
	return min(limit, pttl)
}

// cacheTTL is how long a token WeChat says lives expiresIn stays cached:
// expiresIn less the margin, but never under half of expiresIn.
func cacheTTL(expiresIn, margin time.Duration) time.Duration {
	return max(expiresIn-margin, expiresIn/2)
}

func newOwner() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
