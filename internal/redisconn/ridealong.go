package redisconn

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RideAlong returns a context whose first Redis command, on a client that
// EnableRideAlong was called on, takes calls along in its round trip: the
// command and the calls go in one pipeline. It lets our scripts share the
// round trip of a command a library makes — asynq's enqueue — where the
// library offers no pipeline of its own.
//
// On one node the calls run first, except once after the server lost its
// scripts (a restart, a failover): then they go again by EVAL right after
// the command. On a Cluster each runs on its slot's node, in no set order.
// Ridden reports whether they went; if no command was made with the
// context, RunScripts them.
func RideAlong(ctx context.Context, calls ...*ScriptCall) context.Context {
	return context.WithValue(ctx, rideKey{}, &riders{calls: calls})
}

// Ridden reports whether the calls RideAlong put in ctx have been made
// (their answers are in their Cmds).
func Ridden(ctx context.Context) bool {
	r, ok := ctx.Value(rideKey{}).(*riders)
	return ok && r.taken.Load()
}

type rideKey struct{}

type riders struct {
	calls []*ScriptCall
	taken atomic.Bool
}

// EnableRideAlong lets c's commands take along the calls of a RideAlong
// context. Clients from Target.Client have it.
func EnableRideAlong(c redis.UniversalClient) {
	c.AddHook(rideHook{c: c, loaded: new(sync.Map)})
	riding.Store(c, true)
}

// Rides reports whether EnableRideAlong was called on c: whether a caller
// can count on its calls riding along, or should make them first itself.
func Rides(c redis.UniversalClient) bool {
	_, ok := riding.Load(c)
	return ok
}

// riding holds the clients EnableRideAlong was called on.
var riding sync.Map

type rideHook struct {
	c redis.UniversalClient
	// loaded holds the hashes of the scripts that have run on c's server
	// by EVALSHA since it last answered NOSCRIPT.
	loaded *sync.Map
}

func (rideHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h rideHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r, ok := ctx.Value(rideKey{}).(*riders)
		if !ok || !r.taken.CompareAndSwap(false, true) {
			return next(ctx, cmd)
		}
		b := newBatch(h.c, r.calls)
		scripts := b.scripts()
		// A script this client has not seen run is loaded first: an EVALSHA
		// that met NOSCRIPT would run again by EVAL only after the command.
		// On one node in the same round trip; a Cluster's pipeline would
		// send SCRIPT LOAD to one node only, so there it goes to every
		// master before.
		var unseen []*Script
		for _, s := range scripts {
			if _, ok := h.loaded.Load(s.Hash()); !ok {
				unseen = append(unseen, s)
			}
		}
		one := OneNode(h.c)
		if !one {
			for _, s := range unseen {
				_ = s.Load(ctx, h.c).Err()
			}
		}
		_, _ = h.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			if one {
				for _, s := range unseen {
					p.ScriptLoad(ctx, s.src)
				}
			}
			b.add(ctx, p)
			return p.Process(ctx, cmd)
		})
		// NOSCRIPT: the server lost its scripts (a restart, a failover).
		// This once the calls run after the command; the next ride loads
		// them first again.
		lost := b.noScript()
		for _, s := range scripts {
			if lost {
				h.loaded.Delete(s.Hash())
			} else {
				h.loaded.Store(s.Hash(), true)
			}
		}
		_ = b.finish(ctx, h.c) // the calls' answers and errors are in their Cmds
		return cmd.Err()
	}
}

func (rideHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
