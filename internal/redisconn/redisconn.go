// Package redisconn turns REDIS_URL into the one go-redis client a process
// shares between its own code and asynq, and into the connection options
// asynqmon needs (it opens its own pool): one server, Sentinel or Cluster.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Target is a parsed REDIS_URL: one server, a Sentinel-managed primary, or a Cluster.
type Target struct {
	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

// Parse reads REDIS_URL:
//
//	redis://[user:pass@]host:6379[/db]                one server (rediss:// for TLS)
//	unix:///run/redis.sock?db=2                       one server on a unix socket
//	redis-sentinel://[:pass@]s1:26379,s2:26379/master[?db=N&sentinel_password=…]
//	                                                  a primary found through Sentinel (rediss-sentinel:// for TLS)
//	redis-cluster://[:pass@]n1:6379,n2:6379          a Redis Cluster (rediss-cluster:// for TLS)
//
// timeout bounds dialling and each command, so that an unreachable Redis
// fails a request quickly instead of hanging it.
func Parse(rawURL string, timeout time.Duration) (Target, error) {
	if rawURL == "" {
		return Target{}, errors.New("empty URL")
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	scheme, _, _ := strings.Cut(rawURL, "://")
	switch scheme {
	case "redis", "rediss", "unix":
		opts, err := redis.ParseURL(rawURL)
		if err != nil {
			// go-redis errors can echo the URL, password included: keep only the reason.
			return Target{}, fmt.Errorf("not a Redis URL (%s)", redactURLError(err))
		}
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = timeout, timeout, timeout, timeout
		// Callers' context deadlines apply to the socket as well.
		opts.ContextTimeoutEnabled = true
		// Fail fast on a Redis that is down: one retry of a command and of a
		// dial (go-redis's defaults, 3 and 5, hold a request for seconds).
		opts.MaxRetries = 1
		opts.DialerRetries = 2
		opts.PipelineReadBufferSize, opts.PipelineWriteBufferSize = pipelineBuffer, pipelineBuffer
		return Target{single: opts}, nil
	case "redis-sentinel", "rediss-sentinel":
		return parseSentinel(rawURL, scheme == "rediss-sentinel", timeout)
	case "redis-cluster", "rediss-cluster":
		return parseCluster(rawURL, scheme == "rediss-cluster", timeout)
	}
	return Target{}, fmt.Errorf("scheme %q: want redis://, rediss://, unix://, redis-sentinel:// or redis-cluster://", scheme)
}

// pipelineBuffer sizes the read and write buffers of go-redis's pipeline
// connections. Ours carry a few small scripts and their answers, a few
// KiB at most; go-redis's
// default of 128 KiB each, meant for large batches, only raised the api's
// memory (peak RSS 47 → 70 MiB in the bench's memory phase).
const pipelineBuffer = 8 << 10

func redactURLError(err error) string {
	s := err.Error()
	if i := strings.Index(s, "redis"); i >= 0 && strings.Contains(s[i:], "@") {
		return "check the scheme, host, port and db"
	}
	return s
}

// Client opens the process's go-redis client.
func (t Target) Client() redis.UniversalClient {
	switch {
	case t.failover != nil:
		return redis.NewFailoverClient(t.failover)
	case t.cluster != nil:
		c := redis.NewClusterClient(t.cluster)
		// go-redis reloads the slot map on MOVED, READONLY and every
		// ClusterStateReloadInterval, but a node that stopped answering only
		// gets marked failing: after a failover the client would keep dialling
		// the dead master. Each node's client asks for a reload when a command
		// finds its node away (go-redis coalesces them, one every 200 ms at
		// most), so the promoted replica is found as soon as the survivors
		// announce it.
		c.OnNewNode(func(node *redis.Client) { node.AddHook(reloadWhenAway{c}) })
		return c
	}
	return redis.NewClient(t.single)
}

// reloadWhenAway is a cluster node's hook: a command that finds the node
// unavailable asks the cluster client to reload the slot map.
type reloadWhenAway struct{ cluster *redis.ClusterClient }

func (reloadWhenAway) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r reloadWhenAway) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		r.check(ctx, err)
		return err
	}
}

func (r reloadWhenAway) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		r.check(ctx, err)
		return err
	}
}

func (r reloadWhenAway) check(ctx context.Context, err error) {
	if Unavailable(err) {
		r.cluster.ReloadState(ctx)
	}
}

// AsynqOpt is the same target as asynq connection options, for asynqmon.
func (t Target) AsynqOpt() asynq.RedisConnOpt {
	switch {
	case t.failover != nil:
		o := t.failover
		return asynq.RedisFailoverClientOpt{
			MasterName: o.MasterName, SentinelAddrs: o.SentinelAddrs, SentinelPassword: o.SentinelPassword,
			Username: o.Username, Password: o.Password, DB: o.DB,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, TLSConfig: o.TLSConfig,
		}
	case t.cluster != nil:
		o := t.cluster
		return asynq.RedisClusterClientOpt{
			Addrs: o.Addrs, Username: o.Username, Password: o.Password,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, TLSConfig: o.TLSConfig,
		}
	}
	o := t.single
	return asynq.RedisClientOpt{
		Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		TLSConfig: o.TLSConfig,
	}
}

// String describes the target without its password, for logs.
func (t Target) String() string {
	switch {
	case t.failover != nil:
		return fmt.Sprintf("sentinel %s master %s db %d", strings.Join(t.failover.SentinelAddrs, ","), t.failover.MasterName, t.failover.DB)
	case t.cluster != nil:
		return "cluster " + strings.Join(t.cluster.Addrs, ",")
	}
	return fmt.Sprintf("%s %s db %d", t.single.Network, t.single.Addr, t.single.DB)
}
