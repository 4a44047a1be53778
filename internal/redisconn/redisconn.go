// Package redisconn turns REDIS_URL into the one go-redis client a process
// shares between its own code and asynq, and into the connection options
// asynqmon needs (it opens its own pool).
package redisconn

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Target is a parsed REDIS_URL.
type Target struct {
	opts *redis.Options
}

// Parse reads redis://, rediss:// (TLS) and unix:// URLs, e.g.
// redis://:password@host:6379/0 or unix:///run/redis.sock?db=2. timeout
// bounds dialling and each command, so that an unreachable Redis fails a
// request quickly instead of hanging it.
func Parse(rawURL string, timeout time.Duration) (Target, error) {
	if rawURL == "" {
		return Target{}, errors.New("empty URL")
	}
	scheme, _, _ := strings.Cut(rawURL, "://")
	switch scheme {
	case "redis", "rediss", "unix":
	default:
		return Target{}, fmt.Errorf("scheme %q: want redis://, rediss:// or unix://", scheme)
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// go-redis errors can echo the URL, password included: keep only the reason.
		return Target{}, fmt.Errorf("not a Redis URL (%s)", redactURLError(err))
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.PoolTimeout = timeout
	// Callers' context deadlines apply to the socket as well.
	opts.ContextTimeoutEnabled = true
	// Fail fast on a Redis that is down: one retry of a command and of a
	// dial (go-redis's defaults, 3 and 5, hold a request for seconds).
	opts.MaxRetries = 1
	opts.DialerRetries = 2
	return Target{opts: opts}, nil
}

func redactURLError(err error) string {
	s := err.Error()
	if i := strings.Index(s, "redis"); i >= 0 && strings.Contains(s[i:], "@") {
		return "check the scheme, host, port and db"
	}
	return s
}

// Client opens the process's go-redis client.
func (t Target) Client() redis.UniversalClient {
	return redis.NewClient(t.opts)
}

// AsynqOpt is the same target as asynq connection options, for asynqmon.
func (t Target) AsynqOpt() asynq.RedisConnOpt {
	o := t.opts
	return asynq.RedisClientOpt{
		Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		TLSConfig: o.TLSConfig,
	}
}

// String describes the target without its password, for logs.
func (t Target) String() string {
	return fmt.Sprintf("%s %s db %d", t.opts.Network, t.opts.Addr, t.opts.DB)
}
