package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/intake"
	"wxnotify/internal/record"
	"wxnotify/internal/registry"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/task"
)

// Fairness is the fairness phase's figures: app B's enqueue→send latency
// with app A idle, and while the same workers drain a backlog of A's.
type Fairness struct {
	Backlog int `json:"backlog"`
	// B posts RatePerSec for WindowS seconds per round; rounds alternate
	// idle, loaded, idle, … and end idle.
	RatePerSec float64 `json:"b_rate_per_s"`
	WindowS    float64 `json:"window_s"`
	// BacklogEnqueuePerSec is how fast A's backlog was queued (in process).
	BacklogEnqueuePerSec float64 `json:"backlog_enqueue_per_s"`
	// Over every idle (loaded) round's latencies together.
	IdleP50ms   float64 `json:"b_idle_p50_ms"`
	IdleP99ms   float64 `json:"b_idle_p99_ms"`
	LoadedP50ms float64 `json:"b_loaded_p50_ms"`
	LoadedP99ms float64 `json:"b_loaded_p99_ms"`
	Ratio       float64 `json:"b_p99_loaded_to_idle"`
	P50Ratio    float64 `json:"b_p50_loaded_to_idle"`
	// A's sends per second during the loaded rounds, and its backlog left
	// when B's last notification of each loaded round was sent: 0 would
	// make that round void (A was no longer loading the workers).
	APerSec    float64 `json:"a_per_s"`
	ARemaining []int   `json:"a_remaining"`
	Void       bool    `json:"void,omitempty"`
	Rounds     []Round `json:"rounds"`
}

// Round is one of B's measurements.
type Round struct {
	Loaded bool    `json:"loaded"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	// Loaded rounds: A's sends per second and backlog left at the end.
	APerSec    float64 `json:"a_per_s,omitempty"`
	ARemaining int     `json:"a_remaining,omitempty"`
	// The machine's CPU busy during the round, in cores (every process,
	// this run's and any other), and this run's share of it: the api, the
	// workers, Redis and the bench (sandbox and load).
	MachineCores float64 `json:"machine_busy_cores"`
	RunCores     float64 `json:"run_cores"`
	// With -fairness-split: B's queue wait (record created → a worker
	// starts the attempt, from the workers' debug log) and processing
	// (attempt start → the sandbox receives the send).
	WaitP50ms float64 `json:"wait_p50_ms,omitempty"`
	WaitP99ms float64 `json:"wait_p99_ms,omitempty"`
	ProcP50ms float64 `json:"processing_p50_ms,omitempty"`
	ProcP99ms float64 `json:"processing_p99_ms,omitempty"`
}

// side is one of the two apps: its name in APPS_FILE, the sandbox's view
// of it and its notifications.
type side struct {
	name    string
	appID   string
	mp      *sandbox.MiniProgram
	q       *intake.Queue
	records *record.Store
}

// fairStack is the fairness phase's deployment: one api and the workers
// serving two apps from one APPS_FILE, against a sandbox playing both.
type fairStack struct {
	rdb      *redis.Client
	ins      *asynq.Inspector
	api      string
	key      string
	a, b     side
	queueA   string
	logDir   string
	split    bool
	tmpl     *registry.Template
	procs    []*proc
	stopOnce func()
}

const (
	fairAppA, fairSecretA = "wxbenchfairapp0a", "bench-fair-secret-a"
	fairAppB, fairSecretB = "wxbenchfairapp0b", "bench-fair-secret-b"
)

// fairnessRun measures whether a backlog of app A's starves app B: B posts
// at o.fairRate through the api, first with A idle, then while the workers
// drain o.fairBacklog notifications of A's queued beforehand, in
// alternating rounds. A's queue is paused to make it idle between loaded
// rounds, so that one backlog serves them all.
func fairnessRun(ctx context.Context, o options, rdb *redis.Client, redisURL string, bins map[string]string, dir string, step func(string, ...any)) (*Fairness, error) {
	s, err := startFairStack(ctx, o, rdb, redisURL, bins, dir)
	if err != nil {
		return nil, err
	}
	defer s.stopOnce()
	n := max(1, int(o.fairRate*o.fairFor.Seconds()))
	f := &Fairness{Backlog: o.fairBacklog, RatePerSec: o.fairRate, WindowS: o.fairFor.Seconds()}
	step("fairness: seeding %d users of app A and %d of app B", o.fairBacklog, n*(2*o.fairRounds+1))
	if err := seedUsers(ctx, rdb, s.a.mp, s.a.appID, s.tmpl.TemplateID, "fa", o.fairBacklog, o.fairBacklog); err != nil {
		return nil, err
	}
	// Each app's first sends fetch its token and open connections: done
	// before any round.
	for _, app := range []side{s.a, s.b} {
		prefix := "warm-" + app.name
		if err := seedUsers(ctx, rdb, app.mp, app.appID, s.tmpl.TemplateID, prefix, 20, 20); err != nil {
			return nil, err
		}
		if _, err := s.round(ctx, app, prefix, o.fairRate, 20); err != nil {
			return nil, fmt.Errorf("warm-up of app %s: %w", app.name, err)
		}
	}
	var idle, loaded []time.Duration
	var aSent int
	var aFor time.Duration
	for r := range 2*o.fairRounds + 1 {
		prefix := fmt.Sprintf("fb%d", r)
		if err := seedUsers(ctx, rdb, s.b.mp, s.b.appID, s.tmpl.TemplateID, prefix, n, n); err != nil {
			return nil, err
		}
		isLoaded := r%2 == 1
		if r == 1 {
			step("fairness: queueing app A's backlog of %d (its queue paused)", o.fairBacklog)
			if err := s.ins.PauseQueue(s.queueA); err != nil {
				return nil, err
			}
			start := time.Now()
			if err := s.backlog(ctx, o.fairBacklog); err != nil {
				return nil, err
			}
			f.BacklogEnqueuePerSec = float64(o.fairBacklog) / time.Since(start).Seconds()
		}
		var round Round
		var before int
		if isLoaded {
			step("fairness: round %d, app B at %.0f/s for %s while the workers drain app A's backlog", r+1, o.fairRate, o.fairFor)
			if before, err = s.remainingA(); err != nil {
				return nil, err
			}
			if err := s.ins.UnpauseQueue(s.queueA); err != nil {
				return nil, err
			}
		} else {
			step("fairness: round %d, app B at %.0f/s for %s with app A idle", r+1, o.fairRate, o.fairFor)
		}
		start, machine0, run0 := time.Now(), machineCPU(), s.runCPU(ctx)
		sends, err := s.round(ctx, s.b, prefix, o.fairRate, n)
		if err != nil {
			return nil, fmt.Errorf("fairness round %d: %w", r+1, err)
		}
		secs := time.Since(start).Seconds()
		round.MachineCores, round.RunCores = (machineCPU()-machine0)/secs, (s.runCPU(ctx)-run0)/secs
		lat := latencies(sends, func(t sendTimes) time.Duration { return t.sent.Sub(t.created) })
		round.Loaded, round.P50ms, round.P99ms = isLoaded, ms(percentile(lat, .50)), ms(percentile(lat, .99))
		if s.split {
			if err := s.splitRound(&round, sends); err != nil {
				return nil, err
			}
		}
		if isLoaded {
			// Read when B's last notification has been sent: A must still
			// have had work then, or B did not compete with it throughout.
			left, err := s.remainingA()
			if err != nil {
				return nil, err
			}
			took := time.Since(start)
			if err := s.pauseA(ctx); err != nil {
				return nil, err
			}
			round.ARemaining, round.APerSec = left, float64(before-left)/took.Seconds()
			aSent, aFor = aSent+before-left, aFor+took
			f.ARemaining = append(f.ARemaining, left)
			f.Void = f.Void || left == 0
			loaded = append(loaded, lat...)
		} else {
			idle = append(idle, lat...)
		}
		f.Rounds = append(f.Rounds, round)
	}
	slices.Sort(idle)
	slices.Sort(loaded)
	f.IdleP50ms, f.IdleP99ms = ms(percentile(idle, .50)), ms(percentile(idle, .99))
	f.LoadedP50ms, f.LoadedP99ms = ms(percentile(loaded, .50)), ms(percentile(loaded, .99))
	f.Ratio, f.P50Ratio = f.LoadedP99ms/f.IdleP99ms, f.LoadedP50ms/f.IdleP50ms
	f.APerSec = float64(aSent) / aFor.Seconds()
	if _, err := s.ins.DeleteAllPendingTasks(s.queueA); err != nil {
		return nil, err
	}
	return f, nil
}

// startFairStack starts the sandbox playing apps A and B, and the api and
// o.workers workers with an APPS_FILE listing both.
func startFairStack(ctx context.Context, o options, rdb *redis.Client, redisURL string, bins map[string]string, dir string) (*fairStack, error) {
	sb, err := sandbox.New(sandbox.Config{
		AppID: fairAppA, AppSecret: fairSecretA, Templates: sandbox.DefaultTemplates(), MaxMessages: 10_000_000,
		Apps:   []sandbox.App{{AppID: fairAppB, AppSecret: fairSecretB}},
		Faults: sandbox.Faults{Latency: sandbox.Duration(o.wechatDelay)}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	wechat := httptest.NewServer(sb)
	s := &fairStack{rdb: rdb, ins: asynq.NewInspectorFromRedisClient(rdb), key: "bench-fair-order-service-key-01", logDir: dir, split: o.fairSplit}
	var stopped sync.Once
	s.stopOnce = func() {
		stopped.Do(func() {
			for _, p := range s.procs {
				p.stop()
			}
			wechat.Close()
		})
	}
	fail := func(err error) (*fairStack, error) { s.stopOnce(); return nil, err }
	s.queueA = task.QueueName + "." + fairAppA
	recA, recB := record.NewStore(rdb, fairAppA, time.Hour), record.NewStore(rdb, fairAppB, time.Hour)
	s.a = side{name: "a", appID: fairAppA, q: intake.New(rdb, recA, s.queueA, 5), records: recA}
	s.b = side{name: "b", appID: fairAppB, q: intake.New(rdb, recB, task.QueueName+"."+fairAppB, 5), records: recB}
	if s.a.mp, err = sb.App(fairAppA); err != nil {
		return fail(err)
	}
	if s.b.mp, err = sb.App(fairAppB); err != nil {
		return fail(err)
	}
	s.tmpl, _ = registry.Default().Lookup("order_arrived")
	// The send rates do not bind: the phase measures whether the shared
	// worker pool and asynq's queue order keep B's sends going, not the
	// per-app limiter (each app has its own, so A's cannot delay B's).
	aRate := o.fairARate
	if aRate == 0 {
		aRate = 1_000_000
	}
	apps := filepath.Join(dir, "fair-apps.yaml")
	if err := os.WriteFile(apps, []byte(`apps:
  - name: a
    appid: `+fairAppA+`
    secret: {env: FAIR_SECRET_A}
    send_rate_per_second: `+strconv.Itoa(aRate)+`
  - name: b
    appid: `+fairAppB+`
    secret: {env: FAIR_SECRET_B}
    send_rate_per_second: 1000000
`), 0o600); err != nil {
		return fail(err)
	}
	env := map[string]string{
		"REDIS_URL": redisURL, "WECHAT_BASE_URL": wechat.URL, "API_KEYS": s.key, "LOG_LEVEL": "info",
		"APPS_FILE": apps, "FAIR_SECRET_A": fairSecretA, "FAIR_SECRET_B": fairSecretB,
	}
	apiEnv := with(env, "HTTP_ADDR", freeAddr())
	api, err := startProc(ctx, "fair-api", bins["api"], nil, apiEnv, apiEnv["HTTP_ADDR"], dir)
	if err != nil {
		return fail(err)
	}
	s.procs, s.api = append(s.procs, api), "http://"+api.addr
	for i := range o.workers {
		wenv := with(env, "WORKER_HTTP_ADDR", freeAddr())
		if o.fairSplit {
			wenv["LOG_LEVEL"] = "debug" // "notification attempt started", timed
		}
		w, err := startProc(ctx, fmt.Sprintf("fair-worker-%d", i), bins["worker"], nil, wenv, wenv["WORKER_HTTP_ADDR"], dir)
		if err != nil {
			return fail(err)
		}
		s.procs = append(s.procs, w)
	}
	return s, nil
}

// backlog queues n notifications of A's to users "fa-<i>", in process
// through A's intake.Queue (what the api does per request), from
// 64 goroutines.
func (s *fairStack) backlog(ctx context.Context, n int) error {
	rendered, err := s.tmpl.Render(orderData())
	if err != nil {
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				_, err := s.a.q.Enqueue(ctx, task.Payload{
					Template: s.tmpl.Name, TemplateID: s.tmpl.TemplateID, UserID: fmt.Sprintf("fa-%d", i),
					DedupeKey: fmt.Sprintf("fa-order-%d", i), Page: rendered.Page, Data: rendered.Data,
					CreatedAt: time.Now().UTC(),
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("queue app A's backlog: %w", err)
	default:
		return nil
	}
}

// round posts n notifications of app's at rate through the api to users
// "<prefix>-<i>", waits for their sends and returns their times.
func (s *fairStack) round(ctx context.Context, app side, prefix string, rate float64, n int) ([]sendTimes, error) {
	client := loadClient(64)
	base := len(app.mp.Messages("", ""))
	err := paced(rate, n, func(i int) error {
		return post(ctx, client, s.api, s.key, appNotifyBody(app.name, fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("%s-order-%d", prefix, i)))
	})
	if err != nil {
		return nil, err
	}
	if err := until(ctx, time.Minute, func() bool { return len(app.mp.Messages("", "")) >= base+n }); err != nil {
		return nil, fmt.Errorf("app %s's %d messages: %w", app.name, n, err)
	}
	return matchSends(ctx, app.records, app.mp.Messages("", ""), prefix, n)
}

// splitRound splits the round's latencies at the attempt's start, read
// from the workers' debug logs: queue wait before, processing after.
func (s *fairStack) splitRound(r *Round, sends []sendTimes) error {
	started := map[string]time.Time{}
	for i := range len(s.procs) - 1 {
		b, err := os.ReadFile(filepath.Join(s.logDir, fmt.Sprintf("fair-worker-%d.log", i)))
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if !bytes.Contains(line, []byte(`"notification attempt started"`)) {
				continue
			}
			var l struct {
				Time   time.Time `json:"time"`
				TaskID string    `json:"task_id"`
			}
			if json.Unmarshal(line, &l) == nil {
				started[l.TaskID] = l.Time
			}
		}
	}
	for _, t := range sends {
		if _, ok := started[t.id]; !ok {
			return fmt.Errorf("split: no attempt of %s in the workers' logs", t.id)
		}
	}
	wait := latencies(sends, func(t sendTimes) time.Duration { return started[t.id].Sub(t.created) })
	proc := latencies(sends, func(t sendTimes) time.Duration { return t.sent.Sub(started[t.id]) })
	r.WaitP50ms, r.WaitP99ms = ms(percentile(wait, .5)), ms(percentile(wait, .99))
	r.ProcP50ms, r.ProcP99ms = ms(percentile(proc, .5)), ms(percentile(proc, .99))
	return nil
}

// runCPU is the CPU seconds used so far by this run's processes.
func (s *fairStack) runCPU(ctx context.Context) float64 {
	total := 0.0
	for _, v := range cpuSeconds(ctx, s.rdb, s.procs[0], s.procs[1:]) {
		total += v
	}
	return total
}

// machineCPU is the CPU seconds every process of the machine has used
// since boot (/proc/stat: all but idle and iowait).
func machineCPU() float64 {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := bytes.Cut(b, []byte("\n"))
	total := 0.0
	for i, f := range strings.Fields(string(line))[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		if i != 3 && i != 4 { // idle, iowait
			total += v
		}
	}
	return total / 100 // clock ticks
}

// remainingA is A's backlog not yet finished: pending and running.
func (s *fairStack) remainingA() (int, error) {
	q, err := s.ins.GetQueueInfo(s.queueA)
	if err != nil {
		return 0, err
	}
	return q.Pending + q.Active, nil
}

// pauseA pauses A's queue and waits for its running tasks to finish: A is
// then idle, its backlog kept for the next loaded round.
func (s *fairStack) pauseA(ctx context.Context) error {
	if err := s.ins.PauseQueue(s.queueA); err != nil {
		return err
	}
	return until(ctx, time.Minute, func() bool {
		q, err := s.ins.GetQueueInfo(s.queueA)
		return err == nil && q.Active == 0
	})
}

// until polls done every 5 ms for up to limit.
func until(ctx context.Context, limit time.Duration, done func() bool) error {
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// fairnessReport prints the fairness rows of the table.
func fairnessReport(out io.Writer, f *Fairness) {
	row(out, fmt.Sprintf("fairness: B at %.0f/s, A idle, p50/p99", f.RatePerSec), fmt.Sprintf("%.1f / %.1f ms", f.IdleP50ms, f.IdleP99ms), "", true)
	row(out, fmt.Sprintf("  B with A's backlog of %d, p50/p99", f.Backlog), fmt.Sprintf("%.1f / %.1f ms", f.LoadedP50ms, f.LoadedP99ms), "", true)
	mark := fmt.Sprintf("%.2f×", f.Ratio)
	if f.Void {
		mark += " (VOID: A drained)"
	}
	row(out, "  B p99 loaded ÷ idle", mark, "≤ 2.0×", f.Ratio <= 2 && !f.Void)
	row(out, "  B p50 loaded ÷ idle", fmt.Sprintf("%.2f×", f.P50Ratio), "", true)
	row(out, "  A sent during B's loaded rounds", fmt.Sprintf("%.0f /s, left %v", f.APerSec, f.ARemaining), "left > 0", !f.Void)
	for i, r := range f.Rounds {
		kind := "idle"
		if r.Loaded {
			kind = "loaded"
		}
		row(out, fmt.Sprintf("    round %d (%s) p50/p99", i+1, kind), fmt.Sprintf("%.1f / %.1f ms", r.P50ms, r.P99ms), fmt.Sprintf("CPU %.2f cores (run %.2f)", r.MachineCores, r.RunCores), true)
		if r.WaitP99ms > 0 {
			row(out, "      queue wait / processing p50", fmt.Sprintf("%.1f / %.1f ms", r.WaitP50ms, r.ProcP50ms), "", true)
			row(out, "      queue wait / processing p99", fmt.Sprintf("%.1f / %.1f ms", r.WaitP99ms, r.ProcP99ms), "", true)
		}
	}
}
