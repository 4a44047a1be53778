package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/webhook"
)

// The webhook phase's settings of the workers: no webhook, a receiver that
// answers at once, and one that answers each event after -webhook-delay.
const (
	hookNone = "none"
	hookFast = "fast"
	hookSlow = "slow"
)

var hookSettings = []string{hookNone, hookFast, hookSlow}

// cpuParties are the processes whose CPU the phase counts, and their total.
var cpuParties = []string{"api", "workers", "redis", "bench", "total"}

// hookSecret is the webhook secret of the phase's workers and receiver.
const hookSecret = "bench-webhook-secret-of-32-bytes"

// Webhooks is the webhook phase's figures: the pipeline's throughput and
// enqueue→send latency with no webhook, with a receiver answering at once
// and with one answering after a delay, in alternating rounds; each figure
// the median over the rounds.
type Webhooks struct {
	Notifications int `json:"notifications_per_round"`
	Granted       int `json:"granted_per_round"`
	Rounds        int `json:"rounds_per_setting"`
	Workers       int `json:"workers"`
	// Concurrency is each worker's WEBHOOK_CONCURRENCY: its webhook slots.
	Concurrency int     `json:"webhook_concurrency"`
	SlowDelayS  float64 `json:"slow_receiver_delay_s"`
	// LatencyRate is the post rate of each round's latency run
	// (-webhook-rate, or half the first no-webhook round's delivered/s),
	// LatencyN its notifications.
	LatencyRate float64 `json:"latency_rate_per_s"`
	LatencyN    int     `json:"latency_notifications_per_round"`
	// WaitLimitS is the longest a round waits for its receiver's events
	// after its last send: a round whose remaining events would take longer
	// at its slots does not wait, and reports the count as it stands.
	WaitLimitS float64                 `json:"wait_limit_s"`
	Settings   map[string]*HookFigures `json:"settings"`
	// Ratio is a webhook setting's figure over the no-webhook one's:
	// "slow_delivered_per_s", "fast_p99", …; and the slow receiver's over
	// the fast one's, "slow_to_fast_…" (both pay the webhook's bookkeeping:
	// what is left is the receiver's slowness).
	Ratio map[string]float64 `json:"to_no_webhook"`
	// Paired is the same ratios round by round: the settings of one round
	// run back to back, so that a ratio within a round is less moved by
	// the machine's other work than one of medians.
	Paired map[string][]float64 `json:"paired_by_round"`
}

// HookFigures is one setting's medians over its rounds, and the rounds.
type HookFigures struct {
	DeliveredPerSec float64 `json:"delivered_per_s"`
	AcceptedPerSec  float64 `json:"accepted_per_s"`
	P50ms           float64 `json:"enqueue_to_send_p50_ms"`
	P95ms           float64 `json:"enqueue_to_send_p95_ms"`
	P99ms           float64 `json:"enqueue_to_send_p99_ms"`
	// CPU milliseconds per notification of the throughput run, by party:
	// api, workers, redis, bench (the sandbox, the load and the receiver)
	// and total.
	CPUms map[string]float64 `json:"cpu_ms_per_notification"`
	// Redis commands (those a Lua script runs counted too) and script
	// calls per notification of the throughput run, from the first post to
	// the last send.
	RedisCommands float64 `json:"redis_commands_per_notification"`
	ScriptCalls   float64 `json:"redis_script_calls_per_notification"`
	// EveryEventOnce: in every round the receiver accepted every
	// notification's event, after dedupe by event_id exactly once, and no
	// other (false without a webhook).
	EveryEventOnce bool        `json:"every_event_once"`
	Rounds         []HookRound `json:"rounds"`
}

// HookRound is one round of one setting.
type HookRound struct {
	DeliveredPerSec float64            `json:"delivered_per_s"`
	AcceptedPerSec  float64            `json:"accepted_per_s"`
	P50ms           float64            `json:"p50_ms"`
	P95ms           float64            `json:"p95_ms"`
	P99ms           float64            `json:"p99_ms"`
	CPUms           map[string]float64 `json:"cpu_ms_per_notification"`
	RedisCommands   float64            `json:"redis_commands_per_notification"`
	ScriptCalls     float64            `json:"redis_script_calls_per_notification"`
	// With a webhook: the events expected (one per notification), those
	// accepted when the round's last send was done, and the receiver's
	// counts when the round's programs had stopped (a worker's stop lets
	// the POSTs in flight finish).
	Events     int          `json:"events_expected,omitempty"`
	AtLastSend int          `json:"events_at_last_send,omitempty"`
	End        *eventCounts `json:"events_at_end,omitempty"`
	WaitedS    float64      `json:"waited_s,omitempty"`
	NeededS    float64      `json:"wait_needed_s,omitempty"`
	// LeftQueued is the webhook tasks still queued when the workers had
	// stopped: events not delivered by the end of the round.
	LeftQueued int  `json:"events_left_queued,omitempty"`
	EveryOnce  bool `json:"every_event_once,omitempty"`
	// The machine's CPU busy from the first post to the last send of the
	// throughput run, in cores (every process, this run's and any other),
	// and this run's share of it (api, workers, Redis, bench): with the
	// machine at 2 cores, a run taking less was crowded out or waiting.
	MachineCores float64 `json:"machine_busy_cores"`
	RunCores     float64 `json:"run_cores"`
	// WaitCores is how many of this run's threads were, on average over
	// the same window, runnable but waiting for a CPU: crowding, where a
	// run that takes fewer cores without it was waiting on something else.
	WaitCores float64 `json:"run_queue_wait_cores"`
	// RedisWaitCores is the same of redis-server alone, whose one thread
	// every send and post waits on: what it waits for a CPU, it is behind.
	RedisWaitCores float64 `json:"redis_run_queue_wait_cores"`
	RedisCores     float64 `json:"redis_cores"`
}

// hookStack is what the phase's rounds share: Redis (flushed before each
// round), the bench's sandbox and its app, the built programs, the
// receiver.
type hookStack struct {
	rdb    *redis.Client
	ins    *asynq.Inspector
	sb     *sandbox.Sandbox
	env    map[string]string
	bins   map[string]string
	dir    string
	appID  string
	tmplID string
	key    string
	rcv    *receiver
	o      options
	step   func(string, ...any)
}

// webhookRun measures whether a slow webhook receiver slows the sends:
// o.hookRounds rounds of each setting, alternating (the order reversed
// every other round, so that drift on a shared machine spreads evenly),
// each round on a flushed database with freshly started programs.
func webhookRun(ctx context.Context, s *hookStack) (*Webhooks, error) {
	o := s.o
	granted := o.hookN * 9 / 10
	w := &Webhooks{
		Notifications: o.hookN, Granted: granted, Rounds: o.hookRounds, Workers: o.workers, Concurrency: o.hookConcurrency,
		SlowDelayS: o.hookDelay.Seconds(), WaitLimitS: o.hookWait.Seconds(), Settings: map[string]*HookFigures{}, Ratio: map[string]float64{},
	}
	if o.hookRate > 0 {
		w.LatencyRate, w.LatencyN = o.hookRate, int(o.hookRate*o.hookLatencyFor.Seconds())
	}
	s.rcv = startReceiver(hookSecret)
	defer s.rcv.close()
	for r := range o.hookRounds {
		order := slices.Clone(hookSettings)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, setting := range order {
			s.step("webhook: round %d of %d, %s: %d notifications (%d granted), then the latency run", r+1, o.hookRounds, describeHook(setting, o.hookDelay), o.hookN, granted)
			res, err := s.round(ctx, w, r, setting)
			if err != nil {
				return nil, fmt.Errorf("webhook round %d, %s: %w", r+1, setting, err)
			}
			if w.Settings[setting] == nil {
				w.Settings[setting] = &HookFigures{}
			}
			w.Settings[setting].Rounds = append(w.Settings[setting].Rounds, res)
		}
	}
	for setting, f := range w.Settings {
		f.summarize(setting != hookNone)
	}
	none := w.Settings[hookNone]
	for _, setting := range []string{hookFast, hookSlow} {
		f := w.Settings[setting]
		w.Ratio[setting+"_delivered_per_s"] = fraction(f.DeliveredPerSec, none.DeliveredPerSec)
		w.Ratio[setting+"_accepted_per_s"] = fraction(f.AcceptedPerSec, none.AcceptedPerSec)
		w.Ratio[setting+"_p50"] = fraction(f.P50ms, none.P50ms)
		w.Ratio[setting+"_p95"] = fraction(f.P95ms, none.P95ms)
		w.Ratio[setting+"_p99"] = fraction(f.P99ms, none.P99ms)
		for _, who := range cpuParties {
			w.Ratio[setting+"_cpu_"+who] = fraction(f.CPUms[who], none.CPUms[who])
		}
		w.Ratio[setting+"_redis_commands"] = fraction(f.RedisCommands, none.RedisCommands)
	}
	fast, slow := w.Settings[hookFast], w.Settings[hookSlow]
	w.Ratio["slow_to_fast_delivered_per_s"] = fraction(slow.DeliveredPerSec, fast.DeliveredPerSec)
	w.Ratio["slow_to_fast_p50"] = fraction(slow.P50ms, fast.P50ms)
	w.Ratio["slow_to_fast_p99"] = fraction(slow.P99ms, fast.P99ms)
	w.Paired = map[string][]float64{}
	for _, pair := range [][2]string{{hookFast, hookNone}, {hookSlow, hookNone}, {hookSlow, hookFast}} {
		key := pair[0] + "_to_" + pair[1]
		for i, a := range w.Settings[pair[0]].Rounds {
			b := w.Settings[pair[1]].Rounds[i]
			w.Paired[key+"_delivered_per_s"] = append(w.Paired[key+"_delivered_per_s"], fraction(a.DeliveredPerSec, b.DeliveredPerSec))
			w.Paired[key+"_p50"] = append(w.Paired[key+"_p50"], fraction(a.P50ms, b.P50ms))
			w.Paired[key+"_p99"] = append(w.Paired[key+"_p99"], fraction(a.P99ms, b.P99ms))
		}
	}
	return w, nil
}

// fraction is a/b, 0 when b is.
func fraction(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func describeHook(setting string, delay time.Duration) string {
	switch setting {
	case hookFast:
		return "a receiver answering at once"
	case hookSlow:
		return fmt.Sprintf("a receiver answering after %s", delay)
	}
	return "no webhook"
}

// summarize sets the medians of the rounds.
func (f *HookFigures) summarize(hooked bool) {
	each := func(v func(r HookRound) float64) float64 {
		vals := make([]float64, len(f.Rounds))
		for i, r := range f.Rounds {
			vals[i] = v(r)
		}
		return median(vals)
	}
	f.DeliveredPerSec = each(func(r HookRound) float64 { return r.DeliveredPerSec })
	f.AcceptedPerSec = each(func(r HookRound) float64 { return r.AcceptedPerSec })
	f.P50ms = each(func(r HookRound) float64 { return r.P50ms })
	f.P95ms = each(func(r HookRound) float64 { return r.P95ms })
	f.P99ms = each(func(r HookRound) float64 { return r.P99ms })
	f.CPUms = map[string]float64{}
	for _, who := range cpuParties {
		f.CPUms[who] = each(func(r HookRound) float64 { return r.CPUms[who] })
	}
	f.RedisCommands = each(func(r HookRound) float64 { return r.RedisCommands })
	f.ScriptCalls = each(func(r HookRound) float64 { return r.ScriptCalls })
	f.EveryEventOnce = hooked
	for _, r := range f.Rounds {
		f.EveryEventOnce = f.EveryEventOnce && r.EveryOnce
	}
}

// round runs one round of setting: its programs started on a flushed
// database, hookN notifications posted as fast as the api takes them
// (throughput: first post → last send), then a paced latency run, then the
// wait for the receiver's events, and the programs stopped.
func (s *hookStack) round(ctx context.Context, w *Webhooks, r int, setting string) (HookRound, error) {
	var res HookRound
	o := s.o
	tag := fmt.Sprintf("wh%d%s-", r, setting)
	tput, lat := tag+"t", tag+"l"
	if err := s.rdb.FlushDB(ctx).Err(); err != nil {
		return res, fmt.Errorf("FLUSHDB: %w", err)
	}
	if err := seedUsers(ctx, s.rdb, s.sb, s.appID, s.tmplID, tput, o.hookN, w.Granted); err != nil {
		return res, err
	}
	if w.LatencyRate > 0 {
		if err := seedUsers(ctx, s.rdb, s.sb, s.appID, s.tmplID, lat, w.LatencyN, w.LatencyN); err != nil {
			return res, err
		}
	}
	env := with(s.env, "HTTP_ADDR", freeAddr())
	if setting != hookNone {
		env["WEBHOOK_URL"], env["WEBHOOK_SECRET"] = s.rcv.url, hookSecret
		env["WEBHOOK_CONCURRENCY"] = fmt.Sprint(o.hookConcurrency)
		delay := time.Duration(0)
		if setting == hookSlow {
			delay = o.hookDelay
		}
		s.rcv.reset(tag, delay)
	}
	api, err := startProc(ctx, tag+"api", s.bins["api"], nil, env, env["HTTP_ADDR"], s.dir)
	if err != nil {
		return res, err
	}
	var workers []*proc
	stop := func() {
		for _, p := range workers {
			p.stop()
		}
		api.stop()
	}
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for i := range o.workers {
		wenv := with(env, "WORKER_HTTP_ADDR", freeAddr())
		p, err := startProc(ctx, fmt.Sprintf("%sworker-%d", tag, i), s.bins["worker"], nil, wenv, wenv["WORKER_HTTP_ADDR"], s.dir)
		if err != nil {
			return res, err
		}
		workers = append(workers, p)
	}
	apiURL := "http://" + api.addr

	pids := []int{os.Getpid(), redisPid(ctx, s.rdb), api.cmd.Process.Pid}
	for _, p := range workers {
		pids = append(pids, p.cmd.Process.Pid)
	}
	sends0, cpu0, machine0, wait0, rwait0 := countSends(s.sb), cpuSeconds(ctx, s.rdb, api, workers), machineCPU(), runQueueWait(pids), runQueueWait(pids[1:2])
	if err := resetStats(ctx, s.rdb); err != nil {
		return res, err
	}
	start := time.Now()
	if err := postAll(ctx, apiURL, s.key, o.hookN, o.conns, func(i int) []byte {
		return notifyBody(fmt.Sprintf("%s-%d", tput, i), fmt.Sprintf("%s-order-%d", tput, i))
	}); err != nil {
		return res, err
	}
	res.AcceptedPerSec = float64(o.hookN) / time.Since(start).Seconds()
	if err := waitSends(ctx, s.sb, sends0, w.Granted, 5*time.Minute); err != nil {
		return res, err
	}
	last, err := lastSent(s.sb, tput)
	if err != nil {
		return res, err
	}
	res.DeliveredPerSec = float64(w.Granted) / last.Sub(start).Seconds()
	cmds, err := readCommandStats(ctx, s.rdb, nil)
	if err != nil {
		return res, err
	}
	res.RedisCommands, res.ScriptCalls = float64(cmds.total())/float64(o.hookN), float64(cmds.scripts())/float64(o.hookN)
	res.CPUms = map[string]float64{}
	for who, v := range cpuSeconds(ctx, s.rdb, api, workers) {
		res.CPUms[who] = (v - cpu0[who]) * 1000 / float64(o.hookN)
		res.CPUms["total"] += res.CPUms[who]
	}
	window := time.Since(start).Seconds()
	res.MachineCores = (machineCPU() - machine0) / window
	res.RunCores = res.CPUms["total"] * float64(o.hookN) / 1000 / window
	res.WaitCores = (runQueueWait(pids) - wait0) / window
	res.RedisWaitCores = (runQueueWait(pids[1:2]) - rwait0) / window
	res.RedisCores = res.CPUms["redis"] * float64(o.hookN) / 1000 / window
	if err := drain(ctx, s.ins, o.hookN, time.Minute); err != nil {
		return res, err
	}

	if w.LatencyRate == 0 {
		// The first round (no webhook) sets every round's rate: half its
		// throughput, as the pipeline's latency phase runs at half capacity.
		w.LatencyRate = res.DeliveredPerSec / 2
		w.LatencyN = int(w.LatencyRate * o.hookLatencyFor.Seconds())
		if err := seedUsers(ctx, s.rdb, s.sb, s.appID, s.tmplID, lat, w.LatencyN, w.LatencyN); err != nil {
			return res, err
		}
	}
	lats, err := latencyRun(ctx, s.ins, record.NewStore(s.rdb, s.appID, time.Hour), s.sb, apiURL, s.key, lat, w.LatencyRate, o.hookLatencyFor, o.hookN)
	if err != nil {
		return res, err
	}
	res.P50ms, res.P95ms, res.P99ms = ms(percentile(lats, .50)), ms(percentile(lats, .95)), ms(percentile(lats, .99))

	if setting != hookNone {
		if err := s.awaitEvents(ctx, &res, setting, o.hookN+w.LatencyN); err != nil {
			return res, err
		}
	}
	stop()
	stop = nil
	if setting != hookNone {
		// Each worker's stop let its POSTs in flight finish; the receiver's
		// handlers are done with them when inflight is 0.
		if err := until(ctx, o.hookDelay+10*time.Second, func() bool { return s.rcv.inflight.Load() == 0 }); err != nil {
			return res, fmt.Errorf("the receiver still answering after the workers stopped: %w", err)
		}
		if q, err := s.ins.GetQueueInfo(webhook.Queue(s.appID)); err == nil {
			res.LeftQueued = q.Pending + q.Active + q.Scheduled + q.Retry
		}
		end := s.rcv.snapshot()
		res.End = &end
		res.EveryOnce = end.Accepted == res.Events && end.Stray == 0 && end.Refused == 0
	}
	return res, nil
}

// awaitEvents notes the events the receiver has accepted at the round's
// last send, then waits for the rest if they can come within the phase's
// wait limit: at the round's slots (workers × WEBHOOK_CONCURRENCY) and the
// receiver's delay, as many waves of the delay as the remaining events
// fill slots, plus slack for the relay and the machine. Otherwise it
// notes how long they would have taken and does not wait.
func (s *hookStack) awaitEvents(ctx context.Context, res *HookRound, setting string, events int) error {
	o := s.o
	res.Events = events
	res.AtLastSend = s.rcv.snapshot().Accepted
	delay := time.Duration(0)
	if setting == hookSlow {
		delay = o.hookDelay
	}
	slots := o.workers * o.hookConcurrency
	waves := (events - res.AtLastSend + slots - 1) / slots
	need := time.Duration(waves)*delay + 10*time.Second + time.Duration(waves)*delay/5
	res.NeededS = need.Seconds()
	if need <= o.hookWait {
		start := time.Now()
		// Not reaching the count is a figure, not a failure: the table
		// says how many came.
		_ = until(ctx, need, func() bool { return s.rcv.snapshot().Accepted >= events })
		res.WaitedS = time.Since(start).Seconds()
	}
	return ctx.Err()
}

// runQueueWait is the seconds the threads of processes pids have spent
// runnable but waiting for a CPU (the second field of each thread's
// /proc/<pid>/task/<tid>/schedstat; a thread that has ended is not counted).
func runQueueWait(pids []int) float64 {
	total := 0.0
	for _, pid := range pids {
		stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		for _, f := range stats {
			b, err := os.ReadFile(f)
			if fields := strings.Fields(string(b)); err == nil && len(fields) >= 2 {
				ns, _ := strconv.ParseFloat(fields[1], 64)
				total += ns / 1e9
			}
		}
	}
	return total
}

// redisPid is the redis-server's process id (INFO server), 0 if unread.
func redisPid(ctx context.Context, rdb *redis.Client) int {
	info, _ := rdb.Info(ctx, "server").Result()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	return 0
}
