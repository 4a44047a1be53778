package redisconn_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
)

var (
	setAndAnswer = redisconn.NewScript(`redis.call("SET", KEYS[1], ARGV[1])
return ARGV[2]`)
	nothing  = redisconn.NewScript(`return false`)
	echo     = redisconn.NewScript(`return {KEYS[1], KEYS[2], ARGV[1]}`)
	increase = redisconn.NewScript(`return redis.call("INCR", KEYS[1])`)
)

// evalCalls is how many scripts Redis has run since the last CONFIG RESETSTAT.
func evalCalls(t *testing.T, c redis.UniversalClient) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(info, "\r\n") {
		for _, cmd := range []string{"cmdstat_evalsha:calls=", "cmdstat_eval:calls="} {
			if v, ok := strings.CutPrefix(line, cmd); ok {
				// calls=N,usec=…,failed_calls=F: a NOSCRIPT answer is a failed call.
				calls, _ := strconv.Atoi(v[:strings.IndexByte(v, ',')])
				_, f, _ := strings.Cut(v, "failed_calls=")
				failed, _ := strconv.Atoi(f)
				n += calls - failed
			}
		}
	}
	return n
}

// On one node the calls run as one script, each on its own keys and
// arguments, and each answer (nil included) reaches its call.
func TestRunScriptsOnOneNodeIsOneScript(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.Config{})
	c := redis.NewClient(srv.Options(0))
	defer c.Close()
	ctx := context.Background()
	if !redisconn.OneNode(c) {
		t.Fatal("a single server's client is not OneNode")
	}
	run := func() []*redisconn.ScriptCall {
		calls := []*redisconn.ScriptCall{
			{Script: setAndAnswer, Keys: []string{"a"}, Args: []any{"value-a", "answer-a"}},
			{Script: nothing},
			{Script: echo, Keys: []string{"k2", "k3"}, Args: []any{"x"}},
			{Script: increase, Keys: []string{"n"}},
		}
		if err := c.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := redisconn.RunScripts(ctx, c, calls...); err != nil {
			t.Fatalf("RunScripts: %v", err)
		}
		if n := evalCalls(t, c); n != 1 {
			t.Errorf("%d scripts run for one RunScripts; want 1", n)
		}
		return calls
	}
	calls := run()
	if v, err := calls[0].Cmd.Text(); v != "answer-a" || err != nil {
		t.Errorf("first call: %q, %v", v, err)
	}
	if err := calls[1].Cmd.Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("a script answering nil: %v; want redis.Nil", err)
	}
	if v, err := calls[2].Cmd.StringSlice(); err != nil || strings.Join(v, ",") != "k2,k3,x" {
		t.Errorf("third call saw %q, %v; want its own keys k2,k3 and argument x", v, err)
	}
	if v, err := calls[3].Cmd.Int(); v != 1 || err != nil {
		t.Errorf("fourth call: %d, %v", v, err)
	}
	if v, _ := c.Get(ctx, "a").Result(); v != "value-a" {
		t.Errorf("a = %q; want the first call's write", v)
	}

	// A restarted or promoted server has lost its scripts: sent again whole.
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	calls = run()
	if v, err := calls[3].Cmd.Int(); v != 2 || err != nil {
		t.Errorf("after SCRIPT FLUSH: %d, %v; want 2", v, err)
	}
}

// A call that must follow another runs only if the other succeeded.
func TestRunScriptsOnOneNodeStopsAtAFailure(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.Config{})
	c := redis.NewClient(srv.Options(0))
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "not-a-number", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	calls := []*redisconn.ScriptCall{
		{Script: setAndAnswer, Keys: []string{"before"}, Args: []any{"1", "ok"}},
		{Script: increase, Keys: []string{"not-a-number"}},
		{Script: setAndAnswer, Keys: []string{"after"}, Args: []any{"1", "ok"}},
	}
	err := redisconn.RunScripts(ctx, c, calls...)
	if err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("RunScripts: %v; want the failing script's error", err)
	}
	for i, sc := range calls {
		if sc.Cmd.Err() == nil {
			t.Errorf("call %d has no error", i)
		}
	}
	if n, _ := c.Exists(ctx, "after").Result(); n != 0 {
		t.Error("the call after the failing one ran")
	}
	if n, _ := c.Exists(ctx, "before").Result(); n != 1 {
		t.Error("the call before the failing one did not run")
	}
}

// On a Cluster the calls go to their slots' nodes, each on its own.
func TestRunScriptsOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a six-node Redis Cluster")
	}
	t.Parallel()
	cl := redistest.StartCluster(t, redistest.ClusterConfig{})
	c := cl.Client(t)
	ctx := context.Background()
	if redisconn.OneNode(c) {
		t.Fatal("a Cluster client is OneNode")
	}
	if err := c.Set(ctx, "{b}not-a-number", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	calls := []*redisconn.ScriptCall{
		{Script: setAndAnswer, Keys: []string{"{a}one"}, Args: []any{"1", "ok"}},
		{Script: increase, Keys: []string{"{b}not-a-number"}},
		{Script: nothing},
		{Script: setAndAnswer, Keys: []string{"{c}two"}, Args: []any{"2", "ok"}},
	}
	if err := redisconn.RunScripts(ctx, c, calls...); err == nil {
		t.Fatal("RunScripts: no error; want the failing call's")
	}
	if v, err := calls[0].Cmd.Text(); v != "ok" || err != nil {
		t.Errorf("first call: %q, %v", v, err)
	}
	if !errors.Is(calls[2].Cmd.Err(), redis.Nil) {
		t.Errorf("a script answering nil: %v", calls[2].Cmd.Err())
	}
	if v, err := calls[3].Cmd.Text(); v != "ok" || err != nil {
		t.Errorf("last call, on its own slot: %q, %v; want it to run", v, err)
	}

}
