package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/sandbox"
)

// Comparison is wxnotify measured side by side with the naive peer
// (deploy/bench/naive): the same sandbox, Redis, load and worker count, in
// alternating rounds; each figure is the median over the rounds.
type Comparison struct {
	Notifications int `json:"notifications_per_round"`
	Granted       int `json:"granted_per_round"`
	Rounds        int `json:"rounds_per_party"`
	Workers       int `json:"workers"`
	// LatencyRate is the post rate of the latency runs: half the slower
	// party's delivered/s.
	LatencyRate float64       `json:"latency_rate_per_s"`
	WX          *PartyFigures `json:"wxnotify"`
	Naive       *PartyFigures `json:"naive"`
	// Ratio is wxnotify's figure divided by the naive peer's.
	Ratio map[string]float64 `json:"wxnotify_to_naive"`
}

// PartyFigures is one side's figures. "Per delivered" divides by the
// messages WeChat accepted (the granted notifications).
type PartyFigures struct {
	DeliveredPerSec       float64   `json:"delivered_per_s"`
	DeliveredPerSecRounds []float64 `json:"delivered_per_s_rounds"`
	AcceptedPerSec        float64   `json:"accepted_per_s"`
	// Delivered is the fewest messages delivered in a round (every round
	// must deliver every granted notification).
	Delivered int `json:"delivered_min"`
	// CPU milliseconds per delivered message: api, workers, redis, bench
	// (the sandbox and the load generator) and total.
	CPUms map[string]float64 `json:"cpu_ms_per_delivered"`
	// RedisBytes is used_memory's change over a round per notification
	// posted, read before the party's programs start and after they stop
	// (less the bench's client buffers): what the round left in Redis.
	RedisBytes float64 `json:"redis_bytes_per_notification"`
	// RedisKeys is the change in keys per notification by kind over the
	// last round, with a sample's mean MEMORY USAGE.
	RedisKeys         []KeysPer `json:"redis_keys_per_notification"`
	SendsPerDelivered float64   `json:"sends_per_delivered"`
	// Sends43101 is the most sends in a round WeChat answered 43101 (no
	// grant): first attempts only, asynq's retries come later.
	Sends43101 int `json:"sends_answered_43101"`
	TokenCalls int `json:"token_calls_max"`
	// WeChatCalls is sends and token calls per delivered message.
	WeChatCalls float64 `json:"wechat_calls_per_delivered"`
	// RedisCommands is INFO commandstats' calls per delivered message,
	// counting each command a Lua script runs as well as the script call.
	RedisCommands float64 `json:"redis_commands_per_delivered"`
	ScriptCalls   float64 `json:"redis_script_calls_per_delivered"`
	// The same by command, in a run with the api alone, then the workers
	// alone, per delivered message.
	CommandsAPI     map[string]float64 `json:"redis_commands_api_per_delivered"`
	CommandsWorkers map[string]float64 `json:"redis_commands_workers_per_delivered"`
	// post→send latency at Comparison.LatencyRate: from the load generator
	// starting the POST to the sandbox accepting the send.
	P50ms float64 `json:"post_to_send_p50_ms"`
	P95ms float64 `json:"post_to_send_p95_ms"`
	P99ms float64 `json:"post_to_send_p99_ms"`
	// Peak RSS over all its runs.
	APIPeakRSSMiB    float64 `json:"api_peak_rss_mib"`
	WorkerPeakRSSMiB float64 `json:"worker_peak_rss_mib_max"`
}

// roundResult is one throughput round of one party.
type roundResult struct {
	deliveredPerSec, acceptedPerSec float64
	delivered, sends, sends43101    int
	tokenCalls                      int
	cpu                             map[string]float64 // seconds, by party
	redisBytes                      int64
	keys                            []KeysPer
	commands                        commandStats
}

// compareRun runs rounds throughput rounds per party, alternating, then one
// run per party splitting Redis commands between api and workers, then
// one latency run per party at half the slower one's delivered/s.
func compareRun(ctx context.Context, a *arena, n, rounds int, latencyFor time.Duration) (*Comparison, error) {
	granted := n * 9 / 10
	c := &Comparison{Notifications: n, Granted: granted, Rounds: rounds, Workers: a.workers, Ratio: map[string]float64{}}
	figs := map[string]*PartyFigures{}
	results := map[string][]roundResult{}
	for _, p := range parties {
		figs[p.name] = &PartyFigures{Delivered: n}
	}
	step := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: compare: "+format+"\n", args...) }
	// What the earlier phases left (the floor's tasks expire a minute
	// after it, for one) would move used_memory during the rounds.
	if err := a.rdb.FlushAll(ctx).Err(); err != nil {
		return nil, fmt.Errorf("FLUSHALL: %w", err)
	}
	for r := range rounds {
		for _, p := range parties {
			step("round %d of %d, %s: %d notifications (%d granted)", r+1, rounds, p.name, n, granted)
			res, err := throughputRound(ctx, a, p, fmt.Sprintf("cmp%d-%s", r, p.name), n, granted, figs[p.name])
			if err != nil {
				return nil, fmt.Errorf("compare round %d, %s: %w", r+1, p.name, err)
			}
			results[p.name] = append(results[p.name], res)
		}
	}
	for _, p := range parties {
		summarize(figs[p.name], results[p.name], n)
		step("%s: Redis commands, api alone then workers alone", p.name)
		if err := splitRun(ctx, a, p, "split-"+p.name, n, granted, figs[p.name]); err != nil {
			return nil, fmt.Errorf("compare split, %s: %w", p.name, err)
		}
	}
	c.WX, c.Naive = figs["wxnotify"], figs["naive"]
	c.LatencyRate = min(c.WX.DeliveredPerSec, c.Naive.DeliveredPerSec) / 2
	for _, p := range parties {
		step("%s: post→send latency at %.0f/s for %s", p.name, c.LatencyRate, latencyFor)
		if err := latencyCompare(ctx, a, p, "lat-"+p.name, c.LatencyRate, latencyFor, figs[p.name]); err != nil {
			return nil, fmt.Errorf("compare latency, %s: %w", p.name, err)
		}
	}
	c.ratios()
	return c, nil
}

// sendCounts is the sandbox's count of sends accepted, sends answered
// 43101, all sends, and token calls of either kind.
type sendCounts struct{ ok, noGrant, sends, tokens int }

func countSends(sb *sandbox.Sandbox) sendCounts {
	calls := sb.Calls()
	send := calls[sandbox.EndpointSend]
	return sendCounts{
		ok: send.Outcomes["0"], noGrant: send.Outcomes["43101"], sends: send.Calls,
		tokens: calls[sandbox.EndpointToken].Calls + calls[sandbox.EndpointStableToken].Calls,
	}
}

func (s sendCounts) minus(b sendCounts) sendCounts {
	return sendCounts{s.ok - b.ok, s.noGrant - b.noGrant, s.sends - b.sends, s.tokens - b.tokens}
}

// prepare flushes the comparison's database and seeds count users under prefix.
func prepare(ctx context.Context, a *arena, p party, prefix string, count, granted int) error {
	if err := a.rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("FLUSHDB: %w", err)
	}
	return p.seed(ctx, a, prefix, count, granted)
}

// throughputRound posts n notifications (the first granted of them to
// users holding a grant) to a freshly started party and measures until
// every granted one is delivered and every task has had its first attempt.
func throughputRound(ctx context.Context, a *arena, p party, prefix string, n, granted int, fig *PartyFigures) (roundResult, error) {
	var res roundResult
	if err := prepare(ctx, a, p, prefix, n, granted); err != nil {
		return res, err
	}
	// Memory is read with none of the party's processes connected: Redis's
	// count of its clients' memory is not exact enough to subtract.
	clients0, mem0, err := quietMemory(ctx, a.rdb, -1)
	if err != nil {
		return res, err
	}
	keys0, _, err := keyKinds(ctx, a.rdb)
	if err != nil {
		return res, err
	}
	run, err := p.start(ctx, a, prefix, true)
	if err != nil {
		return res, err
	}
	stop := sync.OnceFunc(func() { run.stop(); fig.noteRSS(run) })
	defer stop()

	sends0 := countSends(a.sb)
	cpu0 := cpuSeconds(ctx, a.rdb, run.api, run.workers)
	if err := resetStats(ctx, a.rdb); err != nil {
		return res, err
	}
	poll := newQueuePoller(a.rdb, p.queue)
	profiled := func() error { return nil }
	if a.profile != "" && strings.HasPrefix(prefix, "cmp0-") {
		procs := map[string]string{}
		for name, addr := range a.pprof {
			if strings.HasPrefix(name, "naive-") == (p.name == "naive") {
				procs[name] = addr
			}
		}
		profiled = captureProfiles(a.profile, "compare", procs, time.Duration(n/2000)*time.Second) // about the round
	}
	start := time.Now()
	if err := postAll(ctx, "http://"+run.api.addr, a.key, n, a.conns, func(i int) []byte {
		return notifyBody(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("%s-order-%d", prefix, i))
	}); err != nil {
		return res, err
	}
	res.acceptedPerSec = float64(n) / time.Since(start).Seconds()
	if err := waitSends(ctx, a.sb, sends0, granted, 5*time.Minute); err != nil {
		return res, err
	}
	if err := profiled(); err != nil {
		return res, err
	}
	// The naive peer sends to the users without a grant too; asynq keeps
	// those tasks for a retry in 15 s or more, not waited for here.
	retries := int64(0)
	if p.name == "naive" {
		retries = int64(n - granted)
	}
	if err := poll.waitFirstAttempts(ctx, retries, time.Minute); err != nil {
		return res, err
	}
	if res.commands, err = readCommandStats(ctx, a.rdb, poll); err != nil {
		return res, err
	}
	cpu1 := cpuSeconds(ctx, a.rdb, run.api, run.workers)
	stop()
	_, mem1, err := quietMemory(ctx, a.rdb, clients0)
	if err != nil {
		return res, err
	}
	keys1, sample, err := keyKinds(ctx, a.rdb)
	if err != nil {
		return res, err
	}
	res.keys = keysDelta(keys0, keys1, n)
	for i, k := range res.keys {
		if k.Per > 0 {
			if res.keys[i].Usage, err = usage(ctx, a.rdb, sample[k.Kind]); err != nil {
				return res, err
			}
		}
	}
	sends := countSends(a.sb).minus(sends0)
	last, err := lastSent(a.sb, prefix)
	if err != nil {
		return res, err
	}
	res.delivered, res.sends, res.sends43101, res.tokenCalls = sends.ok, sends.sends, sends.noGrant, sends.tokens
	if res.delivered != granted {
		return res, fmt.Errorf("%d messages delivered; want %d", res.delivered, granted)
	}
	res.deliveredPerSec = float64(res.delivered) / last.Sub(start).Seconds()
	res.cpu = map[string]float64{}
	for who, s := range cpu1 {
		res.cpu[who] = s - cpu0[who]
	}
	res.redisBytes = mem1 - mem0
	return res, nil
}

// waitSends waits until the sandbox has accepted want sends since base.
func waitSends(ctx context.Context, sb *sandbox.Sandbox, base sendCounts, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		got := countSends(sb).minus(base)
		if got.ok >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d messages delivered after %s (%+v)", got.ok, want, limit, got)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// lastSent is when the sandbox accepted the last message to a user under prefix.
func lastSent(sb *sandbox.Sandbox, prefix string) (time.Time, error) {
	var last time.Time
	for _, m := range sb.Messages("", "") {
		if strings.HasPrefix(m.OpenID, "o-"+prefix+"-") && m.SentAt.After(last) {
			last = m.SentAt
		}
	}
	if last.IsZero() {
		return last, fmt.Errorf("no message to users %s-*", prefix)
	}
	return last, nil
}

// splitRun counts the Redis commands of each side apart: n notifications
// posted to the party's api alone, then its workers started on the full
// queue and run until every task had its first attempt.
func splitRun(ctx context.Context, a *arena, p party, prefix string, n, granted int, fig *PartyFigures) error {
	if err := prepare(ctx, a, p, prefix, n, granted); err != nil {
		return err
	}
	run, err := p.start(ctx, a, prefix, false)
	if err != nil {
		return err
	}
	defer func() { run.stop(); fig.noteRSS(run) }()
	if err := resetStats(ctx, a.rdb); err != nil {
		return err
	}
	if err := postAll(ctx, "http://"+run.api.addr, a.key, n, a.conns, func(i int) []byte {
		return notifyBody(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("%s-order-%d", prefix, i))
	}); err != nil {
		return err
	}
	apiCmds, err := readCommandStats(ctx, a.rdb, nil)
	if err != nil {
		return err
	}
	sends0 := countSends(a.sb)
	if err := resetStats(ctx, a.rdb); err != nil {
		return err
	}
	if err := run.startWorkers(ctx, p, a, prefix); err != nil {
		return err
	}
	if err := waitSends(ctx, a.sb, sends0, granted, 5*time.Minute); err != nil {
		return err
	}
	retries := int64(0)
	if p.name == "naive" {
		retries = int64(n - granted)
	}
	poll := newQueuePoller(a.rdb, p.queue)
	if err := poll.waitFirstAttempts(ctx, retries, time.Minute); err != nil {
		return err
	}
	workerCmds, err := readCommandStats(ctx, a.rdb, poll)
	if err != nil {
		return err
	}
	fig.CommandsAPI, fig.CommandsWorkers = apiCmds.per(granted), workerCmds.per(granted)
	return nil
}

// latencyCompare posts at rate per second for d, every user holding a
// grant, and records post→send latencies: from the moment the load
// generator starts a POST to the sandbox accepting the send. Both parties
// are measured from outside the same way (wxnotify's own latency phase
// measures from its record's created_at instead).
func latencyCompare(ctx context.Context, a *arena, p party, prefix string, rate float64, d time.Duration, fig *PartyFigures) error {
	n := max(1, int(rate*d.Seconds()))
	if err := prepare(ctx, a, p, prefix, n, n); err != nil {
		return err
	}
	run, err := p.start(ctx, a, prefix, true)
	if err != nil {
		return err
	}
	defer func() { run.stop(); fig.noteRSS(run) }()
	sends0 := countSends(a.sb)
	client := loadClient(64)
	posted := make([]time.Time, n)
	err = paced(rate, n, func(i int) error {
		posted[i] = time.Now()
		return post(ctx, client, "http://"+run.api.addr, a.key, notifyBody(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("%s-order-%d", prefix, i)))
	})
	if err != nil {
		return err
	}
	if err := waitSends(ctx, a.sb, sends0, n, time.Minute); err != nil {
		return err
	}
	sent := map[string]time.Time{}
	for _, m := range a.sb.Messages("", "") {
		if strings.HasPrefix(m.OpenID, "o-"+prefix+"-") {
			sent[m.OpenID] = m.SentAt
		}
	}
	lat := make([]time.Duration, 0, n)
	for i := range n {
		at, ok := sent[fmt.Sprintf("o-%s-%d", prefix, i)]
		if !ok {
			return fmt.Errorf("latency: no message to o-%s-%d", prefix, i)
		}
		lat = append(lat, at.Sub(posted[i]))
	}
	slices.Sort(lat)
	fig.P50ms, fig.P95ms, fig.P99ms = ms(percentile(lat, .50)), ms(percentile(lat, .95)), ms(percentile(lat, .99))
	return nil
}

// noteRSS keeps the highest peak RSS seen for the party's processes.
func (f *PartyFigures) noteRSS(r *running) {
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	f.APIPeakRSSMiB = max(f.APIPeakRSSMiB, mib(r.apiRSS))
	f.WorkerPeakRSSMiB = max(f.WorkerPeakRSSMiB, mib(r.workerRSS))
}

// summarize sets the figures from the rounds: medians, and the worst
// round for the counts that must hold in every round.
func summarize(f *PartyFigures, rs []roundResult, n int) {
	each := func(v func(r roundResult) float64) float64 {
		vals := make([]float64, len(rs))
		for i, r := range rs {
			vals[i] = v(r)
		}
		return median(vals)
	}
	for _, r := range rs {
		f.DeliveredPerSecRounds = append(f.DeliveredPerSecRounds, r.deliveredPerSec)
		f.Delivered = min(f.Delivered, r.delivered)
		f.Sends43101 = max(f.Sends43101, r.sends43101)
		f.TokenCalls = max(f.TokenCalls, r.tokenCalls)
	}
	f.DeliveredPerSec = each(func(r roundResult) float64 { return r.deliveredPerSec })
	f.AcceptedPerSec = each(func(r roundResult) float64 { return r.acceptedPerSec })
	f.CPUms = map[string]float64{}
	for _, who := range []string{"api", "workers", "redis", "bench"} {
		f.CPUms[who] = each(func(r roundResult) float64 { return r.cpu[who] * 1000 / float64(r.delivered) })
	}
	f.CPUms["total"] = each(func(r roundResult) float64 {
		return (r.cpu["api"] + r.cpu["workers"] + r.cpu["redis"] + r.cpu["bench"]) * 1000 / float64(r.delivered)
	})
	f.RedisKeys = rs[len(rs)-1].keys
	f.RedisBytes = each(func(r roundResult) float64 { return float64(r.redisBytes) / float64(n) })
	f.SendsPerDelivered = each(func(r roundResult) float64 { return float64(r.sends) / float64(r.delivered) })
	f.WeChatCalls = each(func(r roundResult) float64 { return float64(r.sends+r.tokenCalls) / float64(r.delivered) })
	f.RedisCommands = each(func(r roundResult) float64 { return float64(r.commands.total()) / float64(r.delivered) })
	f.ScriptCalls = each(func(r roundResult) float64 { return float64(r.commands.scripts()) / float64(r.delivered) })
}

// ratios divides wxnotify's figures by the naive peer's.
func (c *Comparison) ratios() {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	w, p := c.WX, c.Naive
	c.Ratio["delivered_per_s"] = div(w.DeliveredPerSec, p.DeliveredPerSec)
	c.Ratio["accepted_per_s"] = div(w.AcceptedPerSec, p.AcceptedPerSec)
	for k := range w.CPUms {
		c.Ratio["cpu_ms_"+k] = div(w.CPUms[k], p.CPUms[k])
	}
	c.Ratio["redis_bytes"] = div(w.RedisBytes, p.RedisBytes)
	c.Ratio["wechat_calls"] = div(w.WeChatCalls, p.WeChatCalls)
	c.Ratio["redis_commands"] = div(w.RedisCommands, p.RedisCommands)
	c.Ratio["p50"] = div(w.P50ms, p.P50ms)
	c.Ratio["p99"] = div(w.P99ms, p.P99ms)
	c.Ratio["api_rss"] = div(w.APIPeakRSSMiB, p.APIPeakRSSMiB)
	c.Ratio["worker_rss"] = div(w.WorkerPeakRSSMiB, p.WorkerPeakRSSMiB)
}

// quietMemory waits (up to 5 s) until Redis has no more than clients
// connected clients, when clients ≥ 0, and returns how many it has and its
// memory (redisMemory).
func quietMemory(ctx context.Context, rdb *redis.Client, clients int64) (int64, int64, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := rdb.Info(ctx, "clients").Result()
		if err != nil {
			return 0, 0, fmt.Errorf("INFO clients: %w", err)
		}
		var n int64 = -1
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "connected_clients:"); ok {
				n, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if n < 0 {
			return 0, 0, fmt.Errorf("INFO clients has no connected_clients")
		}
		if clients < 0 || n <= clients || time.Now().After(deadline) {
			mem, err := redisMemory(ctx, rdb)
			return n, mem, err
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
