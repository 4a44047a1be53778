package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/cmdtest"
)

// A tiny run of the whole benchmark: the tool keeps working, and the
// figures that are about correctness, not speed, hold. Speed is printed by
// the real run, never asserted in a test.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the programs and runs them as processes")
	}
	var out bytes.Buffer
	o := options{n: 300, workers: 2, conns: 8, httpFor: 500 * time.Millisecond, latencyFor: time.Second, aofRounds: 1,
		peer: true, peerN: 200, rounds: 1,
		fairness: true, fairBacklog: 2000, fairRate: 100, fairFor: 500 * time.Millisecond, fairRounds: 1,
		memSizes: sizes{300}, memWarmup: 50,
		hook: true, hookN: 200, hookRounds: 1, hookDelay: 500 * time.Millisecond, hookConcurrency: 20, hookWait: 30 * time.Second, hookLatencyFor: time.Second}
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var f Figures
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &f); err != nil {
		t.Fatalf("last line is not the JSON figures: %v\n%s", err, out.String())
	}
	if f.StableTokenCalls != 1 || f.SendsPerDelivered != 1 || f.SendsWithoutGrant != 0 || f.PipelinePerSec <= 0 || f.APIPeakRSSMiB <= 0 ||
		f.AOF == nil || f.AOF.Delivered["always"] <= 0 || f.AOF.Delivered["everysec"] <= 0 {
		t.Fatalf("figures %+v", f)
	}
	// The fairness phase ran its rounds, idle, loaded, idle, each matching
	// every one of B's notifications to its send (how fast is the real run's).
	if fr := f.Fairness; fr == nil || len(fr.Rounds) != 3 || !fr.Rounds[1].Loaded || fr.IdleP99ms <= 0 || fr.LoadedP99ms <= 0 || len(fr.ARemaining) != 1 {
		t.Fatalf("fairness %+v", f.Fairness)
	}
	// The webhook phase: each setting's round measured the sends; both
	// receivers got every notification's event, once after dedupe (the
	// slow one too: 500 ms an answer at 40 slots is within the wait).
	wh := f.Webhook
	if wh == nil || len(wh.Settings) != 3 {
		t.Fatalf("webhook %+v", wh)
	}
	for name, s := range wh.Settings {
		if len(s.Rounds) != 1 || s.DeliveredPerSec <= 0 || s.P99ms <= 0 || s.EveryEventOnce != (name != hookNone) {
			t.Fatalf("webhook %s: %+v", name, s)
		}
		if r := s.Rounds[0]; name != hookNone && (r.Events != wh.Notifications+wh.LatencyN || r.End.Accepted != r.Events || r.End.Refused != 0 || r.End.Stray != 0) {
			t.Fatalf("webhook %s: events %+v, %+v", name, r, r.End)
		}
	}
	// The comparison: the naive peer delivered every granted notification
	// and spent a send on each of the others (43101); wxnotify delivered
	// every granted one with one send each and none without a grant.
	c := f.Peer
	if c == nil || c.WX == nil || c.Naive == nil {
		t.Fatalf("no comparison in %+v", f)
	}
	if c.Naive.Delivered != c.Granted || c.Naive.Sends43101 != c.Notifications-c.Granted || c.WX.Delivered != c.Granted ||
		c.WX.Sends43101 != 0 || c.WX.SendsPerDelivered != 1 || c.Naive.DeliveredPerSec <= 0 || c.WX.RedisCommands <= 0 ||
		c.Naive.CommandsAPI["evalsha"] <= 0 || c.WX.CommandsWorkers["evalsha"] <= 0 {
		t.Fatalf("comparison %+v\nwxnotify %+v\nnaive %+v", c, c.WX, c.Naive)
	}
	// The byte figures mean something over the full run's thousands of
	// notifications only: over a few hundred, Redis's own housekeeping (a
	// keyspace table resized, buffers freed) moves used_memory by more than
	// they add, either way. What each notification leaves is exact, in the
	// real flow (login and subscription through the api, WeChat's pushes
	// on): a delivered one leaves its record (its place in its user's list
	// is a field of the user's existing hash), no task, no msgid meeting
	// key, no claim marker, no key for its sent event; a queued one its
	// record and asynq's task; a user a binding, grants, a session, an
	// openid index and the popup push's key. Kinds of one key in all (a
	// queue's counters, the token) are per app, not per notification.
	if len(f.Memory) != 1 {
		t.Fatalf("memory phase: %+v", f.Memory)
	}
	m := f.Memory[0]
	grown := func(p Phase) map[string]float64 {
		out := map[string]float64{}
		for _, k := range p.Keys {
			if k.Per*float64(m.Notifications) >= 2 || k.Per*float64(m.Notifications) <= -2 {
				out[k.Kind] = k.Per
			}
		}
		return out
	}
	if got := grown(m.Retained); fmt.Sprint(got) != "map[wxnotify:<app>:n:<id>:1]" {
		t.Fatalf("keys per retained notification %v (all: %+v)", got, m.Retained.Keys)
	}
	if got := grown(m.Queued); fmt.Sprint(got) != "map[asynq:{notifications}:t:<id>:1 wxnotify:<app>:n:<id>:1]" {
		t.Fatalf("keys per queued notification %v", got)
	}
	if got := grown(m.PerUser); len(got) != 5 || got["wxnotify:<app>:push:<id>"] != 1 || got["wxnotify:{<app>:u:<user>}:binding"] != 1 {
		t.Fatalf("keys per user %v", got)
	}
}

func TestMain(m *testing.M) { cmdtest.Main(m, main) }

// go -C deploy/bench run . -h (or -help) prints the usage and succeeds.
func TestHelpExitsZero(t *testing.T) { cmdtest.CheckHelp(t, "quick") }
