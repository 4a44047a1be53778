package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/task"
)

// redisMemory is Redis's used_memory less what its clients' buffers take:
// the api and workers may open connections during a phase, and those are
// not the notifications' bytes.
func redisMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO memory: %w", err)
	}
	var used, clients int64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "used_memory":
			used = n
		case "mem_clients_normal", "mem_clients_slaves":
			clients += n
		}
	}
	if used == 0 {
		return 0, fmt.Errorf("INFO memory has no used_memory")
	}
	return used - clients, nil
}

// keyKinds counts the keys of the database by kind (see kindOf), and keeps
// the last keys of each kind that SCAN returns as a sample of it.
func keyKinds(ctx context.Context, rdb *redis.Client) (map[string]int, map[string][]string, error) {
	const sampleSize = 200
	out, sample := map[string]int{}, map[string][]string{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := kindOf(iter.Val())
		out[k]++
		if s := sample[k]; len(s) < sampleSize {
			sample[k] = append(s, iter.Val())
		} else {
			s[out[k]%sampleSize] = iter.Val()
		}
	}
	if err := iter.Err(); err != nil {
		return nil, nil, fmt.Errorf("SCAN: %w", err)
	}
	return out, sample, nil
}

// usage is the mean MEMORY USAGE of keys: the key, its value and their
// allocations, not its slot in the keyspace's and the expires' tables.
func usage(ctx context.Context, rdb *redis.Client, keys []string) (float64, error) {
	var total int64
	for _, k := range keys {
		n, err := rdb.MemoryUsage(ctx, k, 0).Result()
		if err != nil && err != redis.Nil {
			return 0, fmt.Errorf("MEMORY USAGE: %w", err)
		}
		total += n
	}
	return float64(total) / float64(max(1, len(keys))), nil
}

var (
	kindUser = regexp.MustCompile(`^wxnotify:\{[^:}]+:u:[^}]*\}`)
	kindApp  = regexp.MustCompile(`^wxnotify:([^:{]+):([a-z_]+):.*`)
	kindTask = regexp.MustCompile(`^(asynq:\{[^}]*\}:t:).*`)
	kindProc = regexp.MustCompile(`^(asynq:(?:workers|servers):)\{.*\}$`)
)

// kindOf names a key with its variable parts (app id, user, ids) replaced:
// "wxnotify:{…:u:<user>}:binding", "wxnotify:<app>:n:<id>",
// "asynq:{notifications}:t:<id>".
func kindOf(key string) string {
	if m := kindUser.FindString(key); m != "" {
		rest := key[len(m):]
		if i := strings.Index(rest[min(1, len(rest)):], ":"); i >= 0 {
			rest = rest[:i+1] + ":<id>" // claim and ambiguous markers: :claim:<task id>
		}
		return "wxnotify:{<app>:u:<user>}" + rest
	}
	if m := kindApp.FindStringSubmatch(key); m != nil {
		return "wxnotify:<app>:" + m[2] + ":<id>"
	}
	if m := kindTask.FindStringSubmatch(key); m != nil {
		return m[1] + "<id>"
	}
	if m := kindProc.FindStringSubmatch(key); m != nil {
		return m[1] + "{<worker process>}" // per process, not per notification
	}
	return key
}

// KeysPer is the change in the count of keys of one kind per measured
// notification, and the mean MEMORY USAGE of a sample of the kind's keys.
type KeysPer struct {
	Kind  string  `json:"kind"`
	Per   float64 `json:"per_notification"`
	Usage float64 `json:"memory_usage_bytes"`
}

// keysDelta is after − before per notification, for every kind that changed.
func keysDelta(before, after map[string]int, n int) []KeysPer {
	var out []KeysPer
	seen := map[string]bool{}
	for _, m := range []map[string]int{after, before} {
		for k := range m {
			if d := after[k] - before[k]; d != 0 && !seen[k] {
				seen[k] = true
				out = append(out, KeysPer{Kind: k, Per: float64(d) / float64(n)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Per > out[j].Per || out[i].Per == out[j].Per && out[i].Kind < out[j].Kind
	})
	return out
}

// measured is a phase's Redis bytes and keys per notification, and of the
// bytes the console's feed's (its keys' MEMORY USAGE).
type measured struct {
	bytes float64
	keys  []KeysPer
	feed  float64
}

// feedUsage is the MEMORY USAGE of the console's feed (record's feed.go):
// a few keys per app that grow with every notification (an hour's log)
// rather than keys per notification, so the key counts do not show it.
func feedUsage(ctx context.Context, rdb *redis.Client) (int64, error) {
	var keys []string
	iter := rdb.Scan(ctx, 0, "wxnotify:*feed*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, fmt.Errorf("SCAN: %w", err)
	}
	mean, err := usage(ctx, rdb, keys)
	return int64(mean * float64(len(keys))), err
}

// measure runs phase, which adds n notifications, between two readings of
// Redis's memory and key counts.
func measure(ctx context.Context, rdb *redis.Client, n int, phase func() error) (measured, error) {
	kb, _, err := keyKinds(ctx, rdb)
	if err != nil {
		return measured{}, err
	}
	fb, err := feedUsage(ctx, rdb)
	if err != nil {
		return measured{}, err
	}
	// The keyspace's and the expires' hash tables double as keys are
	// added: a phase that crosses a power of two pays for the doubling.
	kb0 := rdb.Info(ctx, "keyspace").Val()
	mb, err := redisMemory(ctx, rdb)
	if err != nil {
		return measured{}, err
	}
	if err := phase(); err != nil {
		return measured{}, err
	}
	ma, err := redisMemory(ctx, rdb)
	if err != nil {
		return measured{}, err
	}
	fa, err := feedUsage(ctx, rdb)
	if err != nil {
		return measured{}, err
	}
	fmt.Fprintf(os.Stderr, "bench: keyspace before %q, after %q\n", strings.TrimSpace(kb0), strings.TrimSpace(rdb.Info(ctx, "keyspace").Val()))
	ka, sample, err := keyKinds(ctx, rdb)
	if err != nil {
		return measured{}, err
	}
	keys := keysDelta(kb, ka, n)
	for i, k := range keys {
		if k.Per > 0 {
			if keys[i].Usage, err = usage(ctx, rdb, sample[k.Kind]); err != nil {
				return measured{}, err
			}
		}
	}
	return measured{bytes: float64(ma-mb) / float64(n), keys: keys, feed: float64(fa-fb) / float64(n)}, nil
}

// postAll posts n notifications made by body from conns goroutines.
func postAll(ctx context.Context, api, key string, n, conns int, body func(i int) []byte) error {
	client := loadClient(conns)
	jobs := make(chan int)
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for i := range jobs {
				if err := post(ctx, client, api, key, body(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case jobs <- i:
		case err := <-errs:
			errs <- err
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// waitPushes waits until the sandbox has had n pushes acknowledged; one it
// gave up on is an error. The api records a sent event before it answers,
// so an acknowledged sent event is in Redis.
func waitPushes(ctx context.Context, sb *sandbox.Sandbox, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c := sb.Calls()["push"]
		if c.Outcomes["given_up"] > 0 {
			return fmt.Errorf("the sandbox gave up on %d pushes", c.Outcomes["given_up"])
		}
		if c.Outcomes["success"] >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pushes acknowledged after %s: %v", c.Outcomes["success"], n, limit, c.Outcomes)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// memoryRun measures Redis bytes per notification, with WeChat's message
// push on, in two phases of n notifications each to users of their own:
// retained (delivered, the sent event applied, the queue drained — what
// stays for the retention) and queued (accepted with send_at an hour ahead).
// done is how many tasks asynq has processed before; the sandbox must have
// pushed nothing yet.
func memoryRun(ctx context.Context, rdb *redis.Client, ins *asynq.Inspector, sb *sandbox.Sandbox, appID, tmpl, api, key, pushToken string, n, conns, done int) (retained, queued measured, err error) {
	// Users and their grants are the users' state, not the notifications':
	// seeded before the baseline and before the pushes start (no popup
	// events, whose push keys are the users' too).
	if err := seedUsers(ctx, rdb, sb, appID, tmpl, "mem", n, n); err != nil {
		return retained, queued, err
	}
	if err := sb.SetPush(sandbox.Push{URL: api + "/v1/wx/events", Token: pushToken}); err != nil {
		return retained, queued, err
	}
	defer func() { _ = sb.SetPush(sandbox.Push{}) }()
	retained, err = measure(ctx, rdb, n, func() error {
		err := postAll(ctx, api, key, n, conns, func(i int) []byte {
			return notifyBody(fmt.Sprintf("mem-%d", i), fmt.Sprintf("mem-order-%d", i))
		})
		if err != nil {
			return err
		}
		if err := drain(ctx, ins, done+n, 5*time.Minute); err != nil {
			return err
		}
		return waitPushes(ctx, sb, n, time.Minute)
	})
	if err != nil {
		return retained, queued, fmt.Errorf("retained: %w", err)
	}

	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	queued, err = measure(ctx, rdb, n, func() error {
		err := postAll(ctx, api, key, n, conns, func(i int) []byte {
			var b map[string]any
			_ = json.Unmarshal(notifyBody(fmt.Sprintf("queued-%d", i), fmt.Sprintf("queued-order-%d", i)), &b)
			b["send_at"] = at
			out, _ := json.Marshal(b)
			return out
		})
		if err != nil {
			return err
		}
		q, err := ins.GetQueueInfo(task.QueueName)
		if err != nil {
			return err
		}
		if q.Scheduled != n {
			return fmt.Errorf("%d notifications scheduled; want %d", q.Scheduled, n)
		}
		return nil
	})
	if err != nil {
		return retained, queued, fmt.Errorf("queued: %w", err)
	}
	// Not to be sent: they were only to be counted.
	if _, err := ins.DeleteAllScheduledTasks(task.QueueName); err != nil {
		return retained, queued, err
	}
	return retained, queued, nil
}
