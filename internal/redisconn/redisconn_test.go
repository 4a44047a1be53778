package redisconn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want string // Target.String(), or the error's text
		err  bool
	}{
		{url: "redis://127.0.0.1:6379/2", want: "tcp 127.0.0.1:6379 db 2"},
		{url: "redis://:pw@cache:6380", want: "tcp cache:6380 db 0"},
		{url: "rediss://user:pw@cache.example.com:6380/1", want: "tcp cache.example.com:6380 db 1"},
		{url: "unix:///run/redis.sock?db=3", want: "unix /run/redis.sock db 3"},
		{url: "", want: "empty URL", err: true},
		{url: "http://cache:6379", want: `scheme "http"`, err: true},
		{url: "cache:6379", want: `scheme "cache:6379"`, err: true},
		{url: "redis://:hunter2@cache:6379/notadb", want: "not a Redis URL", err: true},
	} {
		tg, err := redisconn.Parse(tc.url, time.Second)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = tg.String()
		}
		if (err != nil) != tc.err || !strings.Contains(got, tc.want) {
			t.Errorf("Parse(%q) = %q (err %v); want %q", tc.url, got, err != nil, tc.want)
		}
		if strings.Contains(got, "hunter2") || strings.Contains(got, ":pw@") {
			t.Errorf("Parse(%q) shows the password: %q", tc.url, got)
		}
	}
}

func TestAsynqOptMatchesTheClient(t *testing.T) {
	t.Parallel()
	tg, err := redisconn.Parse("rediss://u:p@cache:6380/4", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := tg.AsynqOpt().(asynq.RedisClientOpt)
	if !ok || o.Addr != "cache:6380" || o.DB != 4 || o.Username != "u" || o.Password != "p" || o.TLSConfig == nil || o.DialTimeout != 3*time.Second {
		t.Fatalf("AsynqOpt = %+v", o)
	}
}

func TestParseSentinelAndCluster(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, want string
		err       bool
	}{
		{url: "redis-sentinel://:pw@s1:26379,s2:26379,s3:26379/mymaster?db=2&sentinel_password=sp", want: "sentinel s1:26379,s2:26379,s3:26379 master mymaster db 2"},
		{url: "rediss-sentinel://s1:26379/primary", want: "sentinel s1:26379 master primary db 0"},
		{url: "redis-sentinel://s1:26379", want: "no master name", err: true},
		{url: "redis-sentinel://s1/mymaster", want: `"s1" is not host:port`, err: true},
		{url: "redis-sentinel://s1:26379/m?db=x", want: `db "x"`, err: true},
		{url: "redis-cluster://:pw@n1:6379,n2:6379,n3:6379", want: "cluster n1:6379,n2:6379,n3:6379"},
		{url: "rediss-cluster://user:pw@n1:6380", want: "cluster n1:6380"},
		{url: "redis-cluster://n1:6379/1", want: "only database 0", err: true},
	} {
		tg, err := redisconn.Parse(tc.url, time.Second)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = tg.String()
		}
		if (err != nil) != tc.err || !strings.Contains(got, tc.want) {
			t.Errorf("Parse(%q) = %q; want %q", tc.url, got, tc.want)
		}
		if strings.Contains(got, "pw") || strings.Contains(got, "sp") && !tc.err {
			t.Errorf("Parse(%q) shows a password: %q", tc.url, got)
		}
	}

	s, _ := redisconn.Parse("rediss-sentinel://u:pw@s1:26379,s2:26379/mymaster?db=1&sentinel_password=sp", time.Second)
	if o, ok := s.AsynqOpt().(asynq.RedisFailoverClientOpt); !ok || o.MasterName != "mymaster" || len(o.SentinelAddrs) != 2 || o.Password != "pw" || o.SentinelPassword != "sp" || o.DB != 1 || o.TLSConfig == nil {
		t.Fatalf("sentinel AsynqOpt = %+v", s.AsynqOpt())
	}
	c, _ := redisconn.Parse("redis-cluster://:pw@n1:6379,n2:6379", time.Second)
	if o, ok := c.AsynqOpt().(asynq.RedisClusterClientOpt); !ok || len(o.Addrs) != 2 || o.Password != "pw" {
		t.Fatalf("cluster AsynqOpt = %+v", c.AsynqOpt())
	}
	if _, ok := c.Client().(*redis.ClusterClient); !ok {
		t.Fatalf("cluster Client() is %T", c.Client())
	}
	if _, ok := s.Client().(*redis.Client); !ok { // a failover client is a *redis.Client
		t.Fatalf("sentinel Client() is %T", s.Client())
	}
}

// After a Cluster failover the client finds the promoted replica as soon as
// the survivors announce it: each command that meets the dead master asks
// for a slot-map reload (go-redis reloads at most every 200 ms), instead of
// dialling it until the periodic reload.
func TestClusterClientFollowsAFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a six-node Redis Cluster")
	}
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterConfig{})
	tg, err := redisconn.Parse(c.URL(), 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	client := tg.Client()
	defer client.Close()
	ctx := context.Background()
	if err := client.Set(ctx, "order", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	m := c.MasterOf("order")
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	// Keep using the key, as the programs would, while the replica takes over.
	stop := make(chan struct{})
	writes := make(chan time.Time, 1)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			err := client.Set(wctx, "order", "2", 0).Err()
			cancel()
			if err == nil {
				writes <- time.Now()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer close(stop)
	promoted, err := c.WaitFailover(m, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A reload follows the next failed command (every 20 ms here) within
	// go-redis's 200 ms cooldown; a second is ample, and far below the
	// periodic reload (10 s) the client would otherwise wait for.
	select {
	case at := <-writes:
		t.Logf("FIGURE cluster failover: promoted %s, the client wrote again %s after it", promoted.Format("15:04:05.000"), max(0, at.Sub(promoted)).Round(time.Millisecond))
	case <-time.After(time.Until(promoted.Add(time.Second))):
		t.Fatalf("no write succeeded within 1 s of the promotion: the client still dials the dead master")
	}
}
