package program

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redistest"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/task"
)

// Redis losing its master under load — a Cluster's and a Sentinel set's
// master SIGKILLed and a replica promoted, a single AOF server SIGKILLed and
// restarted — with the api and two workers running as processes: nothing
// answered 202 is lost, nothing reaches a phone twice (every user holds a
// spare grant at WeChat, so a second send would show), the api answers 503
// meanwhile (never another 5xx, never a hang) and is back within 3 s of the
// promotion, and every accepted notification is delivered within 15 s of
// it.

func TestFailoverCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a six-node Redis Cluster")
	}
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterConfig{})
	runFailover(t, failover{
		name: "cluster", url: c.URL(), client: c.Client(t),
		fail: func() (time.Time, error) {
			// The master of asynq's queue: the api cannot enqueue and the
			// workers cannot dequeue until its replica takes over.
			m := c.MasterOf("asynq:{" + task.QueueName + "}:pending")
			if err := m.Kill(); err != nil {
				return time.Time{}, err
			}
			return c.WaitFailover(m, failoverLimit)
		},
	})
}

func TestFailoverSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Sentinel set")
	}
	t.Parallel()
	s := redistest.StartSentinel(t, redistest.SentinelConfig{})
	runFailover(t, failover{
		name: "sentinel", url: s.URL(0), client: s.Client(t, 0),
		fail: func() (time.Time, error) {
			m := s.Master()
			if err := m.Kill(); err != nil {
				return time.Time{}, err
			}
			return s.WaitFailover(m, failoverLimit)
		},
	})
}

// A single server with AOF, SIGKILLed and restarted a second later (as a
// supervisor does), with each fsync policy. The kill takes the process,
// not the machine: what Redis wrote to its file survives in the page cache
// either way.
func TestFailoverSingleAOF(t *testing.T) {
	for _, fsync := range []string{"always", "everysec"} {
		t.Run(fsync, func(t *testing.T) {
			t.Parallel()
			srv := redistest.StartServer(t, redistest.Config{AppendOnly: true, AppendFsync: fsync})
			runFailover(t, failover{
				name: "single AOF " + fsync, url: srv.URL(0), client: redis.NewClient(srv.Options(0)),
				fail: func() (time.Time, error) {
					if err := srv.Kill(); err != nil {
						return time.Time{}, err
					}
					time.Sleep(time.Second) // the outage a supervisor's restart takes
					if err := srv.Restart(); err != nil {
						return time.Time{}, err
					}
					return time.Now(), nil
				},
			})
		})
	}
}

// failoverLimit bounds a promotion: the harness's node timeout and
// down-after period are a second, an election a few more.
const failoverLimit = 30 * time.Second

// failover is one topology and how its master fails.
type failover struct {
	name   string
	url    string
	client redis.UniversalClient
	// fail SIGKILLs the master and returns when a new one serves: a
	// replica promoted, or the single server restarted.
	fail func() (promoted time.Time, err error)
}

// posted is one POST /v1/notifications of the load.
type posted struct {
	user, dedupe   string
	sent, answered time.Time
	status         int
	err            error
}

func runFailover(t *testing.T, f failover) {
	const (
		rate   = 50              // notifications posted a second
		before = 2 * time.Second // load before the kill
		after  = 5 * time.Second // load after the promotion: the api must be back within 3 s
		// One user per notification, enough for the slowest promotion allowed.
		maxUsers = int(rate * (before + failoverLimit + after) / time.Second)
	)
	t.Cleanup(func() { _ = f.client.Close() })
	// Sends take 200 ms, so that about ten are in flight when the master
	// dies: WeChat answers them while Redis is away, and their outcome must
	// be written before anything could send them again.
	sb := sandboxtest.Start(t, sandboxtest.RealTime, func(c *sandbox.Config) {
		c.Faults = sandbox.Faults{Latency: sandbox.Duration(200 * time.Millisecond), Endpoints: []string{sandbox.EndpointSend}}
	})
	env := programEnv(sb, f.url)
	env["REDIS_TIMEOUT"] = "500ms"
	api := startProcess(t, "api", "api", env, map[string]string{"LOG_LEVEL": "info"})
	var workers []*process
	for i := range 2 {
		// Debug level: each attempt's start is logged (see lostDequeue).
		workers = append(workers, startProcess(t, "worker", fmt.Sprintf("worker-%d", i), env, nil))
	}
	s := &stack{t: t, sb: sb, rdb: f.client, api: &running{addr: "http://" + api.addr}, env: env}

	// Every user allowed two sends at WeChat and reported one to us: a
	// second send of their one notification would reach the phone.
	users := make([]string, maxUsers)
	var made sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range users {
		sem <- struct{}{}
		made.Go(func() { defer func() { <-sem }(); users[i] = s.user(2, 1) })
	}
	made.Wait()

	client := s.apiClient(5 * time.Second)
	post := func(p *posted) {
		body := fmt.Sprintf(`{"template":"order_arrived","user_id":%q,"dedupe_key":%q,"data":{"item_name":"面","order_id":"F1","arrived_at":"2026-11-29T10:00:00+08:00","pickup_location":"前台"}}`, p.user, p.dedupe)
		req, _ := http.NewRequest("POST", s.api.addr+"/v1/notifications", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e2eKey)
		p.sent = time.Now()
		resp, err := client.Do(req)
		p.answered = time.Now()
		if err != nil {
			p.err = err
			return
		}
		resp.Body.Close()
		p.status = resp.StatusCode
	}

	// The load: rate posts a second, the master killed after `before`, until
	// after past the promotion.
	type outcome struct {
		at  time.Time
		err error
	}
	var killed time.Time
	promotion := make(chan outcome, 1)
	var promoted time.Time
	posts := make([]*posted, 0, maxUsers)
	var inflight sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	start := time.Now()
	for i := range users {
		<-tick.C
		if killed.IsZero() && time.Since(start) >= before {
			killed = time.Now()
			go func() { at, err := f.fail(); promotion <- outcome{at, err} }()
		}
		select {
		case o := <-promotion:
			if o.err != nil {
				t.Fatalf("%s: no promotion: %v", f.name, o.err)
			}
			promoted = o.at
		default:
		}
		if !promoted.IsZero() && time.Since(promoted) > after {
			break
		}
		p := &posted{user: users[i], dedupe: fmt.Sprintf("failover-%d", i)}
		posts = append(posts, p)
		inflight.Go(func() { post(p) })
	}
	tick.Stop()
	inflight.Wait()
	if promoted.IsZero() {
		o := <-promotion
		if o.err != nil {
			t.Fatalf("%s: no promotion: %v", f.name, o.err)
		}
		t.Fatalf("%s: the promotion came %s after the kill, beyond the %s allowed (%v)", f.name, o.at.Sub(killed), failoverLimit, o.err)
	}

	// What the order service saw.
	var accepted []*posted
	refused, otherFailures := 0, 0
	var last503 time.Time
	for _, p := range posts {
		switch {
		case p.err != nil || (p.status >= 500 && p.status != http.StatusServiceUnavailable):
			otherFailures++
			t.Errorf("POST %s: %d %v (want 202 or 503)", p.dedupe, p.status, p.err)
		case p.status == http.StatusAccepted:
			accepted = append(accepted, p)
		case p.status == http.StatusServiceUnavailable:
			refused++
			if p.sent.After(last503) {
				last503 = p.sent
			}
		default:
			t.Fatalf("POST %s answered %d", p.dedupe, p.status)
		}
	}
	// The api is back from the first request sent after the last refused one.
	back := killed
	if !last503.IsZero() {
		back = last503
		for _, p := range posts {
			if p.sent.After(last503) {
				back = p.sent
				break
			}
		}
	}
	acceptedAfter := slices.ContainsFunc(accepted, func(p *posted) bool { return p.sent.After(killed) })
	acceptedBefore := slices.ContainsFunc(accepted, func(p *posted) bool { return p.sent.Before(killed) })
	if !acceptedBefore || !acceptedAfter {
		t.Fatalf("%s: accepted before the kill %v, after it %v: the kill did not land mid-load", f.name, acceptedBefore, acceptedAfter)
	}

	// Every accepted notification reaches its phone within 15 s of the
	// promotion (or of its acceptance, if later) — except one a worker
	// never heard of: a dequeue Redis carried out whose answer was lost with
	// the master. asynq marked it active; only its recoverer finds it (30 s
	// lease, a 30 s cutoff, a scan a minute).
	recovererBound := 30*time.Second + 30*time.Second + time.Minute + 5*time.Second
	lostDequeues, lost := 0, 0
	var backlogDelivered time.Time // the last of those accepted before the promotion
	for _, p := range accepted {
		deadline := maxTime(promoted, p.answered).Add(15 * time.Second)
		at, ok := deliveredBy(s, p.user, deadline)
		if !ok {
			id := task.ID("order_arrived", p.dedupe)
			if slices.ContainsFunc(workers, func(w *process) bool { return strings.Contains(w.logs(), id) }) {
				lost++
				t.Errorf("%s: %s (answered 202), which a worker had started, not delivered 15 s after the promotion", f.name, p.dedupe)
				continue
			}
			lostDequeues++
			if at, ok = deliveredBy(s, p.user, time.Now().Add(recovererBound)); !ok {
				lost++
				t.Errorf("%s: %s (answered 202) never delivered", f.name, p.dedupe)
				continue
			}
		}
		if p.answered.Before(promoted) {
			backlogDelivered = maxTime(backlogDelivered, at)
		}
	}

	// Nothing left in asynq that could run again and send twice: a run
	// that met another's claim comes back after that run's deadline (a
	// minute), an orphan when the recoverer finds it.
	insp := asynq.NewInspectorFromRedisClient(f.client)
	drained := time.Now().Add(recovererBound)
	for {
		q, err := insp.GetQueueInfo(task.QueueName)
		if err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0 {
			break
		}
		if time.Now().After(drained) {
			t.Fatalf("%s: asynq still holds tasks %s after the load: %+v %v", f.name, recovererBound, q, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	duplicated := 0
	for _, u := range users {
		duplicated += max(0, len(s.sb.Messages(u, ""))-1)
	}
	for _, p := range accepted {
		_, st := s.call("GET", "/v1/notifications/"+task.ID("order_arrived", p.dedupe), e2eKey, nil)
		if st["state"] != "completed" || result(st, "status") != "delivered" {
			t.Errorf("%s: %s reached the phone but its status is %v", f.name, p.dedupe, st)
		}
	}

	t.Logf("FIGURE failover %s: %d posted, %d accepted, %d delivered, %d lost, %d duplicated; %d answered 503, %d other failures; promoted %s after the kill, api back %s after it; the last notification accepted before the promotion reached its phone %s after the kill (%d left to asynq's recoverer after a lost dequeue answer); %s",
		f.name, len(posts), len(accepted), len(accepted)-lost, lost, duplicated, refused, otherFailures,
		promoted.Sub(killed).Round(10*time.Millisecond), back.Sub(killed).Round(10*time.Millisecond),
		backlogDelivered.Sub(killed).Round(10*time.Millisecond), lostDequeues, unrecordedWindow(t, workers))
	if duplicated != 0 {
		// What to look at: with appendfsync everysec Redis may answer a
		// write before it is in its file when an fsync is slow (it
		// postpones the write up to 2 s), and a SIGKILL then loses it.
		info, _ := f.client.Info(context.Background(), "persistence").Result()
		for _, u := range users {
			if n := len(s.sb.Messages(u, "")); n > 1 {
				t.Logf("%s: user %s got %d messages", f.name, u, n)
			}
		}
		t.Errorf("%s: %d messages reached a phone twice; Redis persistence: %s", f.name, duplicated, info)
	}
	if back.Sub(promoted) > 3*time.Second {
		t.Errorf("%s: the api was back %s after the promotion; want within 3 s", f.name, back.Sub(promoted).Round(10*time.Millisecond))
	}
}

// unrecordedWindow summarises the workers' wxnotify_unrecorded_send_seconds:
// how long delivered sends went unrecorded — the window in which a worker's
// death could let a notification be sent twice.
func unrecordedWindow(t *testing.T, workers []*process) string {
	t.Helper()
	const name = "wxnotify_unrecorded_send_seconds_bucket{app=\"default\",le=\""
	buckets := map[float64]float64{}
	for _, w := range workers {
		resp, err := http.Get("http://" + w.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			rest, ok := strings.CutPrefix(line, name)
			if !ok {
				continue
			}
			le, count, _ := strings.Cut(rest, "\"} ")
			n, _ := strconv.ParseFloat(count, 64)
			bound, err := strconv.ParseFloat(le, 64)
			if le == "+Inf" {
				bound, err = math.Inf(1), nil
			}
			if err == nil {
				buckets[bound] += n
			}
		}
	}
	bounds := slices.Sorted(maps.Keys(buckets))
	if len(bounds) == 0 || buckets[math.Inf(1)] == 0 {
		t.Fatal("the workers exposed no wxnotify_unrecorded_send_seconds")
	}
	total := buckets[math.Inf(1)]
	within := func(q float64) string {
		for _, b := range bounds {
			if buckets[b] >= q*total {
				return time.Duration(b * float64(time.Second)).String()
			}
		}
		return "?"
	}
	return fmt.Sprintf("sends unrecorded for ≤%s (median), ≤%s (99 %%), ≤%s (all %d)", within(0.5), within(0.99), within(1), int(total))
}

// deliveredBy waits until user's message reached the sandbox, at the latest
// by deadline, and tells when.
func deliveredBy(s *stack, user string, deadline time.Time) (time.Time, bool) {
	for {
		if m := s.sb.Messages(user, ""); len(m) > 0 {
			return m[0].SentAt, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
