package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"wxnotify/internal/ratelimit"
	"wxnotify/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// Two processes share one budget per key; another key has its own.
func TestPerMinuteIsSharedAcrossProcesses(t *testing.T) {
	t.Parallel()
	db := redistest.Lend(t)
	a := ratelimit.PerMinute(db.Client(t), "wxnotify:wxapp:login:", 3)
	b := ratelimit.PerMinute(db.Client(t), "wxnotify:wxapp:login:", 3)
	ctx := context.Background()
	for i, l := range []*ratelimit.Limiter{a, b, a} {
		if _, ok, err := l.Allow(ctx, "203.0.113.9"); !ok || err != nil {
			t.Fatalf("event %d within the limit refused: %v", i+1, err)
		}
	}
	wait, ok, err := b.Allow(ctx, "203.0.113.9")
	if ok || err != nil || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("4th event: ok=%v wait=%s err=%v; want refused with a wait of about 20s", ok, wait, err)
	}
	if _, ok, _ := a.Allow(ctx, "198.51.100.1"); !ok {
		t.Fatal("another key was refused")
	}
}

// Leased events: a process takes several at a time, yet all processes
// together stay within the rate.
func TestPerSecondLeasesStayWithinTheRate(t *testing.T) {
	t.Parallel()
	db := redistest.Lend(t)
	a := ratelimit.PerSecond(db.Client(t), "wxnotify:wxapp:send:", 800, 800) // leases of 8
	b := ratelimit.PerSecond(db.Client(t), "wxnotify:wxapp:send:", 800, 800)
	ctx := context.Background()
	allowed := 0
	start := time.Now()
	for i := 0; i < 3000; i++ {
		l := a
		if i%3 == 0 {
			l = b
		}
		if _, ok, err := l.Allow(ctx, "wxapp"); err != nil {
			t.Fatal(err)
		} else if ok {
			allowed++
		}
	}
	// At most the burst plus what the rate refilled meanwhile.
	if limit := 800 + int(800*time.Since(start).Seconds()) + 16; allowed > limit || allowed < 800 {
		t.Fatalf("%d events allowed in %s; want between 800 and %d", allowed, time.Since(start), limit)
	}
}

// Backlog reads how much of the shared schedule is taken: n events of a
// rate r put it n/r ahead of now; an unused key has none.
func TestBacklog(t *testing.T) {
	t.Parallel()
	db := redistest.Lend(t)
	rdb := db.Client(t)
	ctx := context.Background()
	if d, err := ratelimit.Backlog(ctx, rdb, "wxnotify:wxapp:send:", "wxapp"); d != 0 || err != nil {
		t.Fatalf("unused: %s, %v", d, err)
	}
	l := ratelimit.PerMinute(rdb, "wxnotify:wxapp:send:", 6) // one event every 10 s
	for range 2 {
		if _, ok, err := l.Allow(ctx, "wxapp"); !ok || err != nil {
			t.Fatal("refused", err)
		}
	}
	d, err := ratelimit.Backlog(ctx, rdb, "wxnotify:wxapp:send:", "wxapp")
	if err != nil || d < 19*time.Second || d > 20*time.Second {
		t.Fatalf("after 2 events at 6/min: %s, %v; want about 20 s", d, err)
	}
}
