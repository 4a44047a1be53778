package redistest

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RoundTrips counts a client's trips to Redis, a command or a pipeline
// each, from its AddHook on. A hook added after another that turns a
// command into a pipeline counts that pipeline once.
type RoundTrips struct{ n atomic.Int64 }

// Count attaches a new RoundTrips to c.
func Count(c redis.UniversalClient) *RoundTrips {
	r := &RoundTrips{}
	c.AddHook(r)
	return r
}

// N is the round trips so far.
func (r *RoundTrips) N() int64 { return r.n.Load() }

// DialHook is go-redis's; dials are not counted.
func (*RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts a command.
func (r *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}

// ProcessPipelineHook counts a pipeline.
func (r *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}
