package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Script is a Lua script that keeps its source, so that RunScripts can run
// several of them as one script. Its Run, EvalSha and the rest are
// go-redis's.
type Script struct {
	*redis.Script
	src string
}

// NewScript returns the script of src. The source must end by returning a
// value (or nothing), never an error reply: RunScripts may run it inside
// another script.
func NewScript(src string) *Script { return &Script{Script: redis.NewScript(src), src: src} }

// Flag is a boolean as a script argument: "1" or "0".
func Flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Seconds is d as a TTL argument: whole seconds, at least one (EX refuses 0).
func Seconds(d time.Duration) int64 { return int64(max(d, time.Second) / time.Second) }

// ScriptCall is one script call among others RunScripts makes at once.
type ScriptCall struct {
	Script *Script
	Keys   []string
	Args   []any
	// Cmd holds the call's answer once RunScripts returns.
	Cmd *redis.Cmd
}

// OneNode reports whether every key of c lives on one server — a single
// Redis, or the master Sentinel names — as opposed to the slots of a
// Cluster. On one node RunScripts makes its calls as one script: in order,
// atomically, and none after one that fails.
func OneNode(c redis.UniversalClient) bool {
	_, ok := c.(*redis.Client)
	return ok
}

// RunScripts makes the calls in one round trip.
//
// On one node (OneNode) they run as one Lua script that runs each call's
// script in turn, so Redis dispatches one script instead of several, and a
// call runs only if every call before it ran without error: a caller may
// put a write that must follow another (drop a claim once the outcome is
// recorded) after it. If a script fails, the one call fails as a whole:
// every call's Cmd has the error (the scripts before it may have written,
// those after it did not run), and the client's hooks see it as they would
// a single script's — a READONLY during a failover is ridden out the same
// way.
//
// On a Cluster the calls go in one pipeline, each on its slot's node side
// by side, and each runs whatever the others did.
//
// Either way a script the server has not seen (NOSCRIPT: it restarted, or a
// replica was promoted) is sent again whole by EVAL; go-redis's Script.Run
// cannot do that inside a pipeline, where NOSCRIPT arrives only when the
// pipeline has run. Each call's answer is in its Cmd; the error returned is
// the first one other than redis.Nil.
func RunScripts(ctx context.Context, c redis.UniversalClient, calls ...*ScriptCall) error {
	b := newBatch(c, calls)
	_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		b.add(ctx, p)
		return nil
	})
	return b.finish(ctx, c)
}

// batch is calls as RunScripts makes them: one combined script (comb) on
// one node, else one EVALSHA each.
type batch struct {
	calls []*ScriptCall
	comb  *Script
	cmd   *redis.Cmd // comb's
	keys  []string
	args  []any
}

func newBatch(c redis.UniversalClient, calls []*ScriptCall) *batch {
	b := &batch{calls: calls}
	if len(calls) > 1 && OneNode(c) {
		b.comb = combined(calls)
		b.args = append(make([]any, 0, 1+2*len(calls)), len(calls))
		for _, sc := range calls {
			b.keys = append(b.keys, sc.Keys...)
			b.args = append(b.args, len(sc.Keys), len(sc.Args))
		}
		for _, sc := range calls {
			b.args = append(b.args, sc.Args...)
		}
	}
	return b
}

// add adds the batch's EVALSHAs to p. The answers are the calls' once
// finish has run, after p.
func (b *batch) add(ctx context.Context, p redis.Pipeliner) {
	if b.comb != nil {
		b.cmd = b.comb.EvalSha(ctx, p, b.keys, b.args...)
		return
	}
	for _, sc := range b.calls {
		sc.Cmd = sc.Script.EvalSha(ctx, p, sc.Keys, sc.Args...)
	}
}

// finish makes again by EVAL what met NOSCRIPT, hands the calls their
// answers and returns the first error other than redis.Nil.
func (b *batch) finish(ctx context.Context, c redis.UniversalClient) error {
	if b.comb != nil {
		return b.finishCombined(ctx, c)
	}
	var first error
	for _, sc := range b.calls {
		if redis.HasErrorPrefix(sc.Cmd.Err(), "NOSCRIPT") {
			sc.Cmd = sc.Script.Run(ctx, c, sc.Keys, sc.Args...)
		}
		if err := sc.Cmd.Err(); err != nil && !errors.Is(err, redis.Nil) && first == nil {
			first = err
		}
	}
	return first
}

// finishCombined hands each call its part of the combined script's answer.
func (b *batch) finishCombined(ctx context.Context, c redis.UniversalClient) error {
	cmd := b.cmd
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd = b.comb.Eval(ctx, c, b.keys, b.args...)
	}
	parts, err := cmd.Slice()
	if err == nil && len(parts) != len(b.calls) {
		err = fmt.Errorf("combined script: %d answers for %d calls", len(parts), len(b.calls))
	}
	for i, sc := range b.calls {
		sc.Cmd = redis.NewCmd(ctx)
		switch v, _ := partAt(parts, i); {
		case err != nil:
			sc.Cmd.SetErr(err)
		// Each answer comes in a table of one, {} for nil: a nil would end
		// the list of answers.
		case len(v) == 1:
			sc.Cmd.SetVal(v[0])
		default:
			sc.Cmd.SetErr(redis.Nil)
		}
	}
	return err
}

func partAt(parts []any, i int) ([]any, bool) {
	if i >= len(parts) {
		return nil, false
	}
	v, ok := parts[i].([]any)
	return v, ok
}

// combinedScripts caches the combined script of each sequence of scripts.
var combinedScripts sync.Map // "sha1 sha2 …" → *Script

// combined is the one script that runs the calls' scripts in turn. Each
// script's source becomes a function whose parameters shadow KEYS and ARGV,
// so it runs unchanged on its own slice of the combined call's keys and
// arguments. ARGV[1] is the number of calls, then each call's number of
// keys and of arguments, then every call's arguments in order.
func combined(calls []*ScriptCall) *Script {
	hashes := make([]string, len(calls))
	for i, sc := range calls {
		hashes[i] = sc.Script.Hash()
	}
	id := strings.Join(hashes, " ")
	if s, ok := combinedScripts.Load(id); ok {
		return s.(*Script)
	}
	var b strings.Builder
	b.WriteString("local calls = {}\n")
	for i, sc := range calls {
		fmt.Fprintf(&b, "calls[%d] = function(KEYS, ARGV)\n%s\nend\n", i+1, sc.Script.src)
	}
	b.WriteString(`local n = tonumber(ARGV[1])
local k, a = 1, 2 + 2 * n
local out = {}
for i = 1, n do
	local keys, args = {}, {}
	for j = 1, tonumber(ARGV[2 * i]) do
		keys[j] = KEYS[k]
		k = k + 1
	end
	for j = 1, tonumber(ARGV[2 * i + 1]) do
		args[j] = ARGV[a]
		a = a + 1
	end
	local r = calls[i](keys, args)
	if r == nil or r == false then
		out[i] = {}
	else
		out[i] = {r}
	end
end
return out
`)
	s := NewScript(b.String())
	combinedScripts.Store(id, s)
	return s
}
