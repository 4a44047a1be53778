package accesstoken_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/accesstoken"
	"wxnotify/internal/redistest"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/wechat"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const appID = sandboxtest.AppID

type bundle struct {
	sb *sandboxtest.Server
	db redistest.DB
}

// setup starts a sandbox on the wall clock (the cache's TTLs live in Redis)
// and lends a database.
func setup(t *testing.T, mod func(*sandbox.Config)) *bundle {
	t.Helper()
	mods := []func(*sandbox.Config){sandboxtest.RealTime}
	if mod != nil {
		mods = append(mods, mod)
	}
	return &bundle{sb: sandboxtest.Start(t, mods...), db: redistest.Lend(t)}
}

// process is what one replica of the service has: its own Redis client,
// its own WeChat client and its own token cache.
func (b *bundle) process(t *testing.T, rdb redis.UniversalClient, cfg accesstoken.Config) *accesstoken.Cache {
	t.Helper()
	wc, err := wechat.New(wechat.Config{AppID: appID, AppSecret: sandboxtest.AppSecret, BaseURL: b.sb.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rdb == nil {
		rdb = b.db.Client(t)
	}
	cfg.AppID = appID
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := accesstoken.New(rdb, wc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// getAll calls Get from goroutines goroutines on each cache at once and
// returns the distinct tokens they got.
func getAll(t *testing.T, caches []*accesstoken.Cache, goroutines int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for _, c := range caches {
		for range goroutines {
			wg.Go(func() {
				v, err := c.Get(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[v]++
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return got
}

// waitFor polls cond every 10 ms for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The acceptance: 3 separate clients × 8 goroutines on a cold cache
// cause exactly 1 stable_token call, 1 more after expiry, and none after
// Invalidate with a stale token.
func TestOneFetchPerTokenLifetimeAcrossProcesses(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sandbox.Config) { c.TokenLifetime = 2 * time.Second })
	caches := []*accesstoken.Cache{
		b.process(t, nil, accesstoken.Config{}),
		b.process(t, nil, accesstoken.Config{}),
		b.process(t, nil, accesstoken.Config{}),
	}
	calls := func() int { return b.sb.CallsTo(sandbox.EndpointStableToken) }

	first := getAll(t, caches, 8)
	if len(first) != 1 || calls() != 1 {
		t.Fatalf("cold cache: %d distinct tokens, %d stable_token calls; want 1 and 1", len(first), calls())
	}
	var stale string
	for v := range first {
		stale = v
	}
	rdb := b.db.Client(t)
	if n := rdb.Exists(context.Background(), accesstoken.Key(appID)+":lock").Val(); n != 0 {
		t.Fatal("the fetch lock is still held after the token was stored")
	}

	waitFor(t, 5*time.Second, "the cached token to expire", func() bool {
		return rdb.Exists(context.Background(), accesstoken.Key(appID)).Val() == 0
	})
	second := getAll(t, caches, 8)
	if len(second) != 1 || calls() != 2 {
		t.Fatalf("after expiry: %d distinct tokens, %d stable_token calls; want 1 and 2", len(second), calls())
	}
	if second[stale] != 0 {
		t.Fatal("after expiry the old token is still handed out")
	}

	for _, c := range caches {
		if err := c.Invalidate(context.Background(), stale); err != nil {
			t.Fatal(err)
		}
	}
	third := getAll(t, caches, 8)
	if calls() != 2 || len(third) != 1 {
		t.Fatalf("after Invalidate(stale): %d stable_token calls, %d tokens; want still 2 calls and the same token", calls(), len(third))
	}

	// Invalidating the current token does fetch again, once.
	var current string
	for v := range third {
		current = v
	}
	if err := caches[0].Invalidate(context.Background(), current); err != nil {
		t.Fatal(err)
	}
	getAll(t, caches[:1], 8)
	if calls() != 3 {
		t.Fatalf("after Invalidate(current): %d stable_token calls; want 3", calls())
	}
}

func TestCachedForExpiresInLessTheMargin(t *testing.T) {
	t.Parallel()
	b := setup(t, nil) // WeChat's 7200 s
	c := b.process(t, nil, accesstoken.Config{Margin: 5 * time.Minute})
	if _, err := c.Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	ttl := b.db.Client(t).PTTL(context.Background(), accesstoken.Key(appID)).Val()
	if want := 6900 * time.Second; ttl > want || ttl < want-5*time.Second {
		t.Fatalf("cached token TTL %s; want about %s (7200 s less the 5 min margin)", ttl, want)
	}
}

// With Redis unreachable a fetched token is still returned, and kept, so
// that WeChat is not asked again on every call.
func TestRedisDownStillServesWithoutHammeringWeChat(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	srv := redistest.StartServer(t, redistest.Config{})
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	dead := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer dead.Close()
	c := b.process(t, dead, accesstoken.Config{})
	for i := range 50 {
		v, err := c.Get(context.Background())
		if err != nil || v == "" {
			t.Fatalf("Get %d with Redis down: %q, %v", i, v, err)
		}
	}
	if n := b.sb.CallsTo(sandbox.EndpointStableToken); n != 1 {
		t.Fatalf("%d stable_token calls for 50 Gets with Redis down; want 1", n)
	}
}

// A refusal that will repeat (here a frozen secret) is remembered in Redis:
// every process gets the error without asking WeChat again.
func TestRefusalIsRememberedForEveryProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sandbox.Config) { c.Faults.SecretFrozen = true })
	caches := []*accesstoken.Cache{b.process(t, nil, accesstoken.Config{}), b.process(t, nil, accesstoken.Config{})}
	for range 5 {
		for _, c := range caches {
			_, err := c.Get(context.Background())
			if out := wechat.Classify(err); out.Class != wechat.Permanent || out.Reason != "secret_frozen" {
				t.Fatalf("Get with a frozen secret: %v classified %+v; want permanent secret_frozen", err, out)
			}
		}
	}
	if n := b.sb.CallsTo(sandbox.EndpointStableToken); n != 1 {
		t.Fatalf("%d stable_token calls; want 1, the refusal remembered", n)
	}
}

// A process that died holding the fetch lock delays the others only until
// the lock expires.
func TestDeadLockHolderIsReplaced(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rdb := b.db.Client(t)
	if err := rdb.Set(context.Background(), accesstoken.Key(appID)+":lock", "a-dead-process", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	c := b.process(t, nil, accesstoken.Config{LockTTL: 300 * time.Millisecond})
	start := time.Now()
	if _, err := c.Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("Get took %s: it did not wait for the held lock", took)
	}
	if n := b.sb.CallsTo(sandbox.EndpointStableToken); n != 1 {
		t.Fatalf("%d stable_token calls; want 1", n)
	}
}

func TestGetGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rdb := b.db.Client(t)
	rdb.Set(context.Background(), accesstoken.Key(appID)+":lock", "another-process", time.Minute)
	c := b.process(t, nil, accesstoken.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("Get with a 100ms context while another process holds the lock: %v after %s", err, time.Since(start))
	}
}
