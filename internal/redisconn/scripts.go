package redisconn

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// ScriptCall is one script call among others RunScripts makes at once.
type ScriptCall struct {
	Script *redis.Script
	Keys   []string
	Args   []any
	// Cmd holds the call's answer once RunScripts returns.
	Cmd *redis.Cmd
}

// RunScripts makes the calls in one round trip (a pipeline: calls on
// different Cluster slots run on their nodes side by side), by EVALSHA. A
// call whose script the server has not seen (NOSCRIPT: it restarted, or a
// replica was promoted) is made again by EVAL. go-redis's Script.Run cannot
// do that inside a pipeline, where NOSCRIPT arrives only when the pipeline
// has run. Each call's answer is in its Cmd; the error returned is the first
// one other than redis.Nil.
func RunScripts(ctx context.Context, c redis.UniversalClient, calls ...*ScriptCall) error {
	_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, sc := range calls {
			sc.Cmd = sc.Script.EvalSha(ctx, p, sc.Keys, sc.Args...)
		}
		return nil
	})
	var first error
	for _, sc := range calls {
		if redis.HasErrorPrefix(sc.Cmd.Err(), "NOSCRIPT") {
			sc.Cmd = sc.Script.Run(ctx, c, sc.Keys, sc.Args...)
		}
		if err := sc.Cmd.Err(); err != nil && !errors.Is(err, redis.Nil) && first == nil {
			first = err
		}
	}
	return first
}
