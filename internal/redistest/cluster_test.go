package redistest_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
)

// A killed master's replica takes over its slots, and the keys written
// before the kill read and write again through a fresh client built from the
// cluster's URL, as the programs build theirs.
func TestClusterFailsOverAKilledMaster(t *testing.T) {
	t.Parallel()
	cfg := redistest.ClusterConfig{NodeTimeout: time.Second, AppendOnly: true, AppendFsync: "always"}
	begun := time.Now()
	cl := redistest.StartCluster(t, cfg)
	t.Logf("cluster up in %s: %s", time.Since(begun).Round(time.Millisecond), cl.URL())
	ctx := context.Background()

	for _, s := range cl.Nodes {
		if v := configGet(t, s, "appendfsync"); v != "always" {
			t.Fatalf("node %s: appendfsync %q; want always", s.Addr, v)
		}
	}
	checkKeySlot(t, cl)

	c := cl.Client(t)
	keys := make([]string, 60)
	perMaster := map[*redistest.Server]int{}
	for i := range keys {
		keys[i] = "order:" + strconv.Itoa(i)
		if err := c.Set(ctx, keys[i], i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", keys[i], err)
		}
		perMaster[cl.MasterOf(keys[i])]++
	}
	masters := cl.Masters()
	if len(masters) != 3 || len(perMaster) != 3 {
		t.Fatalf("%d masters serve slots and the keys landed on %d; want 3 and 3", len(masters), len(perMaster))
	}

	victim := cl.MasterOf(keys[0])
	waitReplicated(t, victim)
	killedAt := time.Now()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	promotedAt, err := cl.WaitFailover(victim, 30*time.Second+20*cfg.NodeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replica promoted %s after the kill (cluster-node-timeout %s)", promotedAt.Sub(killedAt).Round(time.Millisecond), cfg.NodeTimeout)

	promoted := cl.MasterOf(keys[0])
	if promoted == victim || !slices.Contains(cl.Masters(), promoted) || len(cl.Masters()) != 3 {
		t.Fatalf("after failover %s serves %s and masters are %v", promoted.Addr, keys[0], addrs(cl.Masters()))
	}
	fresh := clientFromURL(t, cl.URL())
	for i, k := range keys {
		if v, err := fresh.Get(ctx, k).Result(); err != nil || v != strconv.Itoa(i) {
			t.Fatalf("after failover GET %s = %q, %v; want %d", k, v, err, i)
		}
	}
	if err := fresh.Set(ctx, keys[0], "after", 0).Err(); err != nil {
		t.Fatalf("after failover SET %s: %v", keys[0], err)
	}
	if v, err := fresh.Get(ctx, keys[0]).Result(); err != nil || v != "after" {
		t.Fatalf("after failover GET %s = %q, %v; want after", keys[0], v, err)
	}
}

// KeySlot agrees with CLUSTER KEYSLOT, hash tags included.
func checkKeySlot(t *testing.T, cl *redistest.Cluster) {
	t.Helper()
	c := redis.NewClient(cl.Nodes[0].Options(0))
	defer c.Close()
	for _, k := range []string{"", "123456789", "order:1", "{user1}.following", "{user1}.followers", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{}", "a{", "}b{c}"} {
		want, err := c.ClusterKeySlot(context.Background(), k).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", k, err)
		}
		if got := redistest.KeySlot(k); got != int(want) {
			t.Errorf("KeySlot(%q) = %d; CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
}

// clientFromURL opens a client the way the programs do, from REDIS_URL.
func clientFromURL(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	target, err := redisconn.Parse(url, 2*time.Second)
	if err != nil {
		t.Fatalf("redisconn.Parse(%q): %v", url, err)
	}
	c := target.Client()
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitReplicated waits until master's replica has acknowledged everything
// written to master so far, so that killing master loses none of it.
func waitReplicated(t *testing.T, master *redistest.Server) {
	t.Helper()
	c := redis.NewClient(master.Options(0))
	defer c.Close()
	info := func() string {
		s, err := c.Info(context.Background(), "replication").Result()
		if err != nil {
			t.Fatalf("INFO replication on %s: %v", master.Addr, err)
		}
		return s
	}
	written, _ := strconv.ParseInt(field(info(), "master_repl_offset"), 10, 64)
	// Replicas acknowledge once a second.
	deadline := time.Now().Add(30 * time.Second)
	for {
		acked := int64(-1)
		for _, kv := range strings.Split(field(info(), "slave0"), ",") {
			if v, ok := strings.CutPrefix(kv, "offset="); ok {
				acked, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if acked >= written {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica of %s acknowledged offset %d, not %d, within 30s", master.Addr, acked, written)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func field(info, key string) string {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return v
		}
	}
	return ""
}

func addrs(servers []*redistest.Server) string {
	var out []string
	for _, s := range servers {
		out = append(out, s.Addr)
	}
	return fmt.Sprint(out)
}
