package redistest_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// Parallel tests each see an empty database of their own.
func TestLendIsolatesParallelTests(t *testing.T) {
	t.Parallel()
	for i := range 8 {
		t.Run("writer", func(t *testing.T) {
			t.Parallel()
			db := redistest.Lend(t)
			c := db.Client(t)
			ctx := context.Background()
			if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
				t.Fatalf("fresh db %d: size %d, err %v; want empty", db.Index, n, err)
			}
			if err := c.Set(ctx, "k", i, 0).Err(); err != nil {
				t.Fatal(err)
			}
			if n, _ := c.DBSize(ctx).Result(); n != 1 {
				t.Fatalf("db %d holds %d keys after one write: another test wrote here", db.Index, n)
			}
		})
	}
}

func TestURLIsParsedByGoRedis(t *testing.T) {
	t.Parallel()
	db := redistest.Lend(t)
	opt, err := redis.ParseURL(db.URL())
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", db.URL(), err)
	}
	if opt.Network != "unix" || opt.DB != db.Index {
		t.Fatalf("ParseURL(%q) = network %q db %d", db.URL(), opt.Network, opt.DB)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

// A dedicated server with AOF keeps its data across a crash and restart.
func TestRestartWithAppendOnlyKeepsData(t *testing.T) {
	t.Parallel()
	s := redistest.StartServer(t, redistest.Config{AppendOnly: true})
	ctx := context.Background()
	c := redis.NewClient(s.Options(0))
	defer c.Close()
	if err := c.Set(ctx, "order", "42", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// appendfsync everysec: make the write durable before the crash.
	if err := c.Do(ctx, "BGREWRITEAOF").Err(); err != nil {
		t.Fatal(err)
	}
	waitAOFRewrite(t, c)
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "order").Result(); err != nil || v != "42" {
		t.Fatalf("after restart GET order = %q, %v; want 42", v, err)
	}
}

func waitAOFRewrite(t *testing.T, c *redis.Client) {
	t.Helper()
	for range 500 {
		info, err := c.Info(context.Background(), "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "aof_rewrite_in_progress:0") && !strings.Contains(info, "aof_rewrite_scheduled:1") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("AOF rewrite did not finish")
}

// A server given a port listens on 127.0.0.1 as well as on its socket.
func TestServerListensOnItsPort(t *testing.T) {
	t.Parallel()
	port := redistest.FreePort(t)
	s := redistest.StartServer(t, redistest.Config{Port: port})
	if want := "127.0.0.1:" + strconv.Itoa(port); s.Addr != want {
		t.Fatalf("Addr %q; want %q", s.Addr, want)
	}
	ctx := context.Background()
	for _, opt := range []*redis.Options{{Addr: s.Addr}, s.Options(0)} {
		c := redis.NewClient(opt)
		err := c.Ping(ctx).Err()
		_ = c.Close()
		if err != nil {
			t.Fatalf("PING over %s %s: %v", opt.Network, opt.Addr, err)
		}
	}
	if s := redistest.StartServer(t, redistest.Config{}); s.Addr != "" {
		t.Fatalf("a server without a port has Addr %q", s.Addr)
	}
}

// AppendFsync and Extra reach the server's configuration.
func TestServerConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  redistest.Config
		want map[string]string
	}{
		{redistest.Config{AppendOnly: true}, map[string]string{"appendonly": "yes", "appendfsync": "everysec"}},
		{redistest.Config{AppendOnly: true, AppendFsync: "always"}, map[string]string{"appendonly": "yes", "appendfsync": "always"}},
		{redistest.Config{Extra: []string{"--hz", "42"}}, map[string]string{"hz": "42", "save": "", "maxmemory-policy": "noeviction"}},
	} {
		s := redistest.StartServer(t, tc.cfg)
		for name, want := range tc.want {
			if got := configGet(t, s, name); got != want {
				t.Errorf("Config %+v: CONFIG GET %s = %q; want %q", tc.cfg, name, got, want)
			}
		}
	}
}

func configGet(t *testing.T, s *redistest.Server, name string) string {
	t.Helper()
	c := redis.NewClient(s.Options(0))
	defer c.Close()
	kv, err := c.ConfigGet(context.Background(), name).Result()
	if err != nil {
		t.Fatalf("CONFIG GET %s on %s: %v", name, s.Addr, err)
	}
	return kv[name]
}
