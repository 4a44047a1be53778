package redistest_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"wxnotify/internal/redistest"
)

// The sentinels promote the replica of a killed master, and the data written
// before the kill reads and writes again through a fresh client built from
// the set's URL, as the programs build theirs.
func TestSentinelFailsOverAKilledMaster(t *testing.T) {
	t.Parallel()
	cfg := redistest.SentinelConfig{DownAfter: time.Second}
	begun := time.Now()
	ss := redistest.StartSentinel(t, cfg)
	t.Logf("sentinel set up in %s: %s", time.Since(begun).Round(time.Millisecond), ss.URL(3))
	ctx := context.Background()

	old, replica := ss.Master(), ss.Replica()
	if old == replica || old.Addr == "" || replica.Addr == "" {
		t.Fatalf("master %q, replica %q", old.Addr, replica.Addr)
	}
	c := ss.Client(t, 3)
	for i := range 20 {
		if err := c.Set(ctx, "order:"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatalf("SET order:%d: %v", i, err)
		}
	}
	waitReplicated(t, old)
	killedAt := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	promotedAt, err := ss.WaitFailover(old, 30*time.Second+20*cfg.DownAfter)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replica promoted %s after the kill (down-after-milliseconds %d)", promotedAt.Sub(killedAt).Round(time.Millisecond), cfg.DownAfter.Milliseconds())
	if m, r := ss.Master(), ss.Replica(); m != replica || r != old {
		t.Fatalf("after failover Master() = %s, Replica() = %s; want %s, %s", m.Addr, r.Addr, replica.Addr, old.Addr)
	}

	fresh := clientFromURL(t, ss.URL(3))
	if n, err := fresh.DBSize(ctx).Result(); err != nil || n != 20 {
		t.Fatalf("after failover DBSIZE on db 3 = %d, %v; want 20", n, err)
	}
	for i := range 20 {
		k := "order:" + strconv.Itoa(i)
		if v, err := fresh.Get(ctx, k).Result(); err != nil || v != strconv.Itoa(i) {
			t.Fatalf("after failover GET %s = %q, %v; want %d", k, v, err, i)
		}
	}
	if err := fresh.Set(ctx, "order:0", "after", 0).Err(); err != nil {
		t.Fatalf("after failover SET: %v", err)
	}
	if v, err := fresh.Get(ctx, "order:0").Result(); err != nil || v != "after" {
		t.Fatalf("after failover GET order:0 = %q, %v; want after", v, err)
	}
}
