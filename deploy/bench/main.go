// Command bench measures wxnotify on this machine in one run, side by side
// with the floors it cannot beat: asynq alone, and a bare gin handler; and
// with the naive peer (deploy/bench/naive), the pipeline a Go developer
// would otherwise write, in alternating rounds. It starts its own
// redis-server (or uses REDIS_URL), the WeChat sandbox, the real api and N
// real worker processes, and prints a table and one JSON line with every
// figure. Its fairness phase serves two apps from one APPS_FILE and
// measures one app's latency while the workers drain the other's backlog.
// Its memory phase drives the real flow — users logging in and subscribing
// through the api, notifications posted through it and delivered with
// WeChat's message push on — and measures what Redis keeps per
// notification at each size (-memory-sizes).
//
// It is a module of its own (deploy/bench/go.mod), so from the repository
// root it runs with go -C, in deploy/bench (a relative -profile DIR lands
// there):
//
//	go -C deploy/bench run .                 # full run (~5 minutes)
//	go -C deploy/bench run . -quick          # about a minute
//	go -C deploy/bench run . -only fairness  # the fairness phase alone
//	go -C deploy/bench run . -only memory    # Redis per notification in the real flow alone
//	go -C deploy/bench run . -only compare   # asynq's floor, then the naive peer alone
//	go -C deploy/bench run . -only webhook   # sends with no webhook, a fast and a 5 s receiver (~2 minutes; -webhook adds it to the full run)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
	"wxnotify/internal/redistest"
	"wxnotify/internal/registry"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/task"
)

type options struct {
	quick       bool
	n           int
	workers     int
	conns       int
	httpFor     time.Duration
	latencyFor  time.Duration
	wechatDelay time.Duration
	bareGin     string
	profile     string
	aofRounds   int
	// the comparison with the naive peer
	peer          bool
	peerN         int
	rounds        int
	peerTaskCheck time.Duration
	// the fairness phase between two apps
	fairness    bool
	fairBacklog int
	fairRate    float64
	fairFor     time.Duration
	fairRounds  int
	fairSplit   bool
	fairARate   int
	// the memory phase: users at each size, after a warm-up of memWarmup
	memSizes  sizes
	memWarmup int
	memLive   bool
	// the webhook phase: no webhook, a receiver answering at once, one
	// answering after hookDelay
	hook            bool
	hookN           int
	hookRounds      int
	hookDelay       time.Duration
	hookConcurrency int
	hookWait        time.Duration
	hookLatencyFor  time.Duration
	hookRate        float64
	only            string
}

// sizes is a comma-separated list of counts, as a flag.
type sizes []int

func (s *sizes) String() string {
	var out []string
	for _, n := range *s {
		out = append(out, strconv.Itoa(n))
	}
	return strings.Join(out, ",")
}

func (s *sizes) Set(v string) error {
	*s = nil
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive count", f)
		}
		*s = append(*s, n)
	}
	return nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.bareGin != "" {
		if err := serveBareGin(o.bareGin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	o.defaults()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line; -h prints the usage to out and is flag.ErrHelp.
func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&o.quick, "quick", false, "smaller run, under a minute")
	fs.IntVar(&o.n, "n", 0, "notifications in the pipeline phase (default 20000; 4000 with -quick)")
	fs.IntVar(&o.workers, "workers", 4, "worker processes")
	fs.IntVar(&o.conns, "conns", 32, "concurrent HTTP clients")
	fs.DurationVar(&o.httpFor, "http-for", 0, "length of each HTTP measurement (default 5s; 2s with -quick)")
	fs.DurationVar(&o.latencyFor, "latency-for", 0, "length of the latency phase (default 10s; 3s with -quick)")
	fs.DurationVar(&o.wechatDelay, "wechat-latency", 0, "latency the sandbox adds to each WeChat call")
	fs.IntVar(&o.aofRounds, "aof-rounds", -1, "rounds per AOF fsync policy in the durability phase (default 4; 2 with -quick; 0 skips it; only with the bench's own redis-server)")
	fs.StringVar(&o.profile, "profile", "", "write CPU profiles of the api and worker 0 into this directory: 5 s of the pipeline phase, and the comparison's first round of each party (wxnotify and naive)")
	fs.BoolVar(&o.peer, "peer", true, "compare with the naive peer (gin → asynq TaskID → silenceper; only with the bench's own redis-server)")
	fs.IntVar(&o.peerN, "peer-n", 0, "notifications per comparison round (default 10000; 2000 with -quick)")
	fs.IntVar(&o.rounds, "rounds", 0, "comparison rounds per party, alternating (default 2; 1 with -quick)")
	fs.DurationVar(&o.peerTaskCheck, "peer-task-check-interval", 0, "the naive worker's asynq TaskCheckInterval (default: asynq's, 1s)")
	fs.BoolVar(&o.fairness, "fairness", true, "measure app B's latency while the workers drain a backlog of app A's (two apps, one APPS_FILE)")
	fs.IntVar(&o.fairBacklog, "fairness-backlog", 0, "app A's backlog in the fairness phase (default 100000; 20000 with -quick)")
	fs.Float64Var(&o.fairRate, "fairness-rate", 100, "app B's notifications per second in the fairness phase")
	fs.DurationVar(&o.fairFor, "fairness-for", 0, "length of each of app B's rounds in the fairness phase (default 5s; 2s with -quick)")
	fs.IntVar(&o.fairRounds, "fairness-rounds", 0, "loaded rounds in the fairness phase, each between two idle ones (default 2; 1 with -quick)")
	fs.BoolVar(&o.fairSplit, "fairness-split", false, "split app B's latency into queue wait and processing (the workers log at debug level: slower)")
	fs.IntVar(&o.fairARate, "fairness-a-rate", 0, "app A's send_rate_per_second in the fairness phase (default: high enough never to bind)")
	fs.Var(&o.memSizes, "memory-sizes", "users (one notification each) at each size of the memory phase, comma-separated (default 10000,20000; 2000 with -quick)")
	fs.IntVar(&o.memWarmup, "memory-warmup", -1, "users of the memory phase's warm-up round, not measured: what Redis allocates once (scripts, buffers) is then out of the sizes' figures (default 1000; 200 with -quick; 0: none)")
	fs.BoolVar(&o.memLive, "memory-live", false, "the memory phase reads used_memory with the api and workers running and their clients' buffers in it, as one measuring from outside does (retained only)")
	fs.BoolVar(&o.hook, "webhook", false, "add the webhook phase to the full run (about 2 minutes more; -only webhook runs it alone): the sends with no webhook, with a receiver answering at once and with one answering after -webhook-delay, alternating")
	fs.IntVar(&o.hookN, "webhook-n", 0, "notifications per webhook round (default 5000; 1000 with -quick)")
	fs.IntVar(&o.hookRounds, "webhook-rounds", 0, "webhook rounds per setting, alternating (default 2; 1 with -quick)")
	fs.DurationVar(&o.hookDelay, "webhook-delay", 5*time.Second, "how long the slow receiver takes to answer each event")
	fs.IntVar(&o.hookConcurrency, "webhook-concurrency", 20, "each worker's WEBHOOK_CONCURRENCY in the webhook phase (the worker's default: 20)")
	fs.DurationVar(&o.hookWait, "webhook-wait", time.Minute, "longest wait, after a webhook round's last send, for its receiver's remaining events (derived from the delay and the slots); a round that would need longer reports the count as it stands")
	fs.DurationVar(&o.hookLatencyFor, "webhook-latency-for", 0, "length of each webhook round's latency run (default 5s; 2s with -quick)")
	fs.Float64Var(&o.hookRate, "webhook-rate", 0, "post rate of each webhook round's latency run (default: half the first no-webhook round's delivered/s)")
	fs.StringVar(&o.only, "only", "", `run this phase alone: "fairness", "memory", "webhook", or "compare" (asynq's floor for context, then the naive peer)`)
	fs.StringVar(&o.bareGin, "bare-gin", "", "internal: serve the bare gin comparison handler on this address")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.only != "" && o.only != "fairness" && o.only != "memory" && o.only != "compare" && o.only != "webhook" {
		return o, fmt.Errorf("-only %q: the phases that run alone are fairness, memory, webhook and compare", o.only)
	}
	return o, nil
}

func (o *options) defaults() {
	pick(o.quick, &o.n, 0, 20000, 4000)
	pick(o.quick, &o.peerN, 0, 10000, 2000)
	pick(o.quick, &o.rounds, 0, 2, 1)
	pick(o.quick, &o.aofRounds, -1, 4, 2)
	pick(o.quick, &o.fairBacklog, 0, 100_000, 20_000)
	pick(o.quick, &o.fairRounds, 0, 2, 1)
	pick(o.quick, &o.fairFor, 0, 5*time.Second, 2*time.Second)
	pick(o.quick, &o.httpFor, 0, 5*time.Second, 2*time.Second)
	pick(o.quick, &o.latencyFor, 0, 10*time.Second, 3*time.Second)
	pick(o.quick, &o.memWarmup, -1, 1000, 200)
	if len(o.memSizes) == 0 {
		o.memSizes = sizes{10_000, 20_000}
		if o.quick {
			o.memSizes = sizes{2000}
		}
	}
	pick(o.quick, &o.hookN, 0, 5000, 1000)
	pick(o.quick, &o.hookRounds, 0, 2, 1)
	pick(o.quick, &o.hookLatencyFor, 0, 5*time.Second, 2*time.Second)
}

// pick sets an option left unset to its default: full, or short with -quick.
func pick[T comparable](quick bool, v *T, unset, full, short T) {
	if *v == unset {
		*v = full
		if quick {
			*v = short
		}
	}
}

// Figures is every measurement, as the JSON line prints it.
type Figures struct {
	Workers          int     `json:"workers"`
	Notifications    int     `json:"notifications"`
	FloorTasksPerSec float64 `json:"floor_tasks_per_s"`
	PipelinePerSec   float64 `json:"pipeline_per_s"`
	PipelineRatio    float64 `json:"pipeline_to_floor"`
	IngestPerSec     float64 `json:"pipeline_ingest_per_s"`
	// CPU seconds each party used per 1,000 pipeline notifications.
	CPUPer1k            map[string]float64 `json:"pipeline_cpu_s_per_1k"`
	APIReqPerSec        float64            `json:"api_req_per_s"`
	BareGinReqPerSec    float64            `json:"bare_gin_req_per_s"`
	APIRatio            float64            `json:"api_to_bare_gin"`
	LatencyRate         float64            `json:"latency_rate_per_s"`
	P50ms               float64            `json:"p50_ms"`
	P95ms               float64            `json:"p95_ms"`
	P99ms               float64            `json:"p99_ms"`
	StableTokenCalls    int                `json:"stable_token_calls"`
	SendsPerDelivered   float64            `json:"sends_per_delivered"`
	SendsWithoutGrant   int                `json:"sends_without_grant"`
	APIPeakRSSMiB       float64            `json:"api_peak_rss_mib"`
	WorkerPeakRSSMiB    float64            `json:"worker_peak_rss_mib_max"`
	WorkerPeakRSSAllMiB []float64          `json:"worker_peak_rss_mib"`
	// Redis bytes per notification in the real flow, at each size (users
	// logged in and subscribed through the api, notifications posted
	// through it and delivered with WeChat's message push on): INFO
	// memory's used_memory, less client buffers, and the change in keys
	// per notification by kind.
	Memory []MemorySize `json:"memory"`
	// What appendfsync always costs against everysec (nil when skipped).
	AOF *durability `json:"aof,omitempty"`
	// wxnotify against the naive peer (nil when skipped).
	Peer *Comparison `json:"peer,omitempty"`
	// App B's latency with app A idle and with a backlog (nil when skipped).
	Fairness *Fairness `json:"fairness,omitempty"`
	// The sends with no webhook, a fast and a slow receiver (nil when skipped).
	Webhook *Webhooks `json:"webhook,omitempty"`
}

func run(ctx context.Context, o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "wxnotify-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

	redisURL := os.Getenv("REDIS_URL")
	ownRedis := redisURL == ""
	var srv *redistest.Server
	if ownRedis {
		if srv, err = startRedis(); err != nil {
			return err
		}
		defer srv.Stop()
		redisURL = srv.URL(0)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}

	// 18 characters, as every WeChat appid ("wx" and 16 hex digits): the
	// appid is in every key, and a key's length decides the allocation it
	// takes (a record's key of 62 characters takes 80 bytes, one of 60 takes
	// 64, as the 16 characters the bench had before gave).
	appID, secret := "wxbench00000000000", "bench-app-secret"
	sb, err := sandbox.New(sandbox.Config{
		AppID: appID, AppSecret: secret, Templates: sandbox.DefaultTemplates(), MaxMessages: 10_000_000,
		Faults: sandbox.Faults{Latency: sandbox.Duration(o.wechatDelay)}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	wechat := httptest.NewServer(sb)
	defer wechat.Close()
	tmpl, _ := registry.Default().Lookup("order_arrived")

	step("building the api, the worker and the naive peer")
	bins, err := buildPrograms(dir)
	if err != nil {
		return err
	}
	f := Figures{Workers: o.workers, Notifications: o.n}
	key := "bench-order-service-key-0001"
	env := map[string]string{
		"REDIS_URL": redisURL, "WECHAT_APPID": appID, "WECHAT_APP_SECRET": secret, "WECHAT_BASE_URL": wechat.URL,
		"API_KEYS": key, "LOG_LEVEL": "info", "WECHAT_PUSH_TOKEN": "bench-push-token", "SEND_RATE_PER_SECOND": "1000000", "LOGIN_RATE_PER_MINUTE": "1000000",
	}
	hooks := func() error {
		s := &hookStack{rdb: rdb, ins: asynq.NewInspectorFromRedisClient(rdb), sb: sb, env: env, bins: bins, dir: dir,
			appID: appID, tmplID: tmpl.TemplateID, key: key, o: o, step: step}
		if f.Webhook, err = webhookRun(ctx, s); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		return nil
	}
	if o.only == "webhook" {
		if err := hooks(); err != nil {
			return err
		}
		webhookReport(out, f.Webhook)
		printJSON(out, f)
		return nil
	}
	if o.only == "fairness" {
		if f.Fairness, err = fairnessRun(ctx, o, rdb, redisURL, bins, dir, step); err != nil {
			return fmt.Errorf("fairness: %w", err)
		}
		fairnessReport(out, f.Fairness)
		printJSON(out, f)
		return nil
	}

	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	memory := func() error {
		ms := &memoryStack{rdb: rdb, ins: asynq.NewInspectorFromRedisClient(rdb), sb: sb, env: env, bins: bins, logDir: dir,
			workers: o.workers, conns: o.conns, tmplID: tmpl.TemplateID, key: key, live: o.memLive}
		if o.memWarmup > 0 {
			if _, err := ms.memorySize(ctx, "w", o.memWarmup, step); err != nil {
				return fmt.Errorf("memory warm-up: %w", err)
			}
		}
		for i, n := range o.memSizes {
			m, err := ms.memorySize(ctx, fmt.Sprintf("m%dr%d", n, i), n, step)
			if err != nil {
				return fmt.Errorf("memory at %d: %w", n, err)
			}
			f.Memory = append(f.Memory, m)
		}
		f.APIPeakRSSMiB = max(f.APIPeakRSSMiB, mib(ms.apiRSS))
		f.WorkerPeakRSSMiB = max(f.WorkerPeakRSSMiB, mib(ms.workerRSS))
		return nil
	}
	if o.only == "memory" {
		if err := memory(); err != nil {
			return err
		}
		memoryReport(out, f.Memory)
		printJSON(out, f)
		return nil
	}

	step("floor: asynq alone, %d no-op tasks, %d servers", o.n, o.workers)
	if f.FloorTasksPerSec, err = floor(ctx, rdb, o.n, o.workers, 50); err != nil {
		return err
	}

	compare := func() error {
		switch {
		case o.peer && !ownRedis:
			step("comparison with the naive peer skipped: it needs the bench's own redis-server")
		case o.peer:
			step("comparison: wxnotify and the naive peer, %d rounds each of %d notifications, alternating", o.rounds, o.peerN)
			cmpDB := 1
			a := &arena{
				rdb: redis.NewClient(srv.Options(cmpDB)), redisAddr: srv.Addr, db: cmpDB, sb: sb, env: env,
				appID: appID, secret: secret, wechatURL: wechat.URL, tmplID: tmpl.TemplateID, key: key,
				bins: bins, logDir: dir, workers: o.workers, conns: o.conns, taskCheck: o.peerTaskCheck.String(),
				profile: o.profile,
			}
			defer a.rdb.Close()
			if f.Peer, err = compareRun(ctx, a, o.peerN, o.rounds, o.latencyFor); err != nil {
				return err
			}
		}
		return nil
	}
	if o.only == "compare" {
		if err := compare(); err != nil {
			return err
		}
		if f.Peer != nil {
			comparisonReport(out, f.Peer, f.FloorTasksPerSec)
		}
		printJSON(out, f)
		return nil
	}
	apiEnv := with(env, "HTTP_ADDR", freeAddr())
	profiles := map[string]string{} // process → its PPROF_ADDR
	if o.profile != "" {
		apiEnv["PPROF_ADDR"], profiles["api"] = freeAddr(), ""
		profiles["api"] = apiEnv["PPROF_ADDR"]
	}
	api, err := startProc(ctx, "api", bins["api"], nil, apiEnv, apiEnv["HTTP_ADDR"], dir)
	if err != nil {
		return err
	}
	defer api.stop()
	bareAddr := freeAddr()
	bare, err := startProc(ctx, "bare-gin", bins["bench"], []string{"-bare-gin", bareAddr}, nil, bareAddr, dir)
	if err != nil {
		return err
	}
	defer bare.stop()
	ins := asynq.NewInspectorFromRedisClient(rdb)

	step("HTTP: POST /v1/notifications vs a bare gin handler, %d clients, %s each", o.conns, o.httpFor)
	body := func(i int64) []byte { return notifyBody("http-user", fmt.Sprintf("http-%d", i)) }
	if f.BareGinReqPerSec, err = hammer(ctx, "http://"+bareAddr+"/v1/notifications", key, o.conns, o.httpFor, body); err != nil {
		return err
	}
	waitHTTP := func() error { return nil }
	if o.profile != "" {
		waitHTTP = captureProfiles(o.profile, "http", map[string]string{"api": profiles["api"]}, o.httpFor-time.Second)
	}
	if f.APIReqPerSec, err = hammer(ctx, "http://"+api.addr+"/v1/notifications", key, o.conns, o.httpFor, body); err != nil {
		return err
	}
	if err := waitHTTP(); err != nil {
		return err
	}
	bare.stop()
	// The HTTP phase's notifications go to nobody; drop them before the workers start.
	if _, err := ins.DeleteAllPendingTasks(task.QueueName); err != nil {
		return err
	}

	step("pipeline: %d notifications (90%% to users holding a grant) through %d worker processes", o.n, o.workers)
	granted := o.n * 9 / 10
	if err := seedUsers(ctx, rdb, sb, appID, tmpl.TemplateID, "pipe", o.n, granted); err != nil {
		return err
	}
	var workers []*proc
	for i := range o.workers {
		wenv := with(env, "WORKER_HTTP_ADDR", freeAddr())
		if o.profile != "" && i == 0 {
			wenv["PPROF_ADDR"] = freeAddr()
			profiles["worker"] = wenv["PPROF_ADDR"]
		}
		w, err := startProc(ctx, fmt.Sprintf("worker-%d", i), bins["worker"], nil, wenv, wenv["WORKER_HTTP_ADDR"], dir)
		if err != nil {
			return err
		}
		defer w.stop()
		workers = append(workers, w)
	}
	wait := func() error { return nil }
	if o.profile != "" {
		wait = captureProfiles(o.profile, "pipeline", profiles, 5*time.Second)
	}
	cpu0 := cpuSeconds(ctx, rdb, api, workers)
	if f.PipelinePerSec, f.IngestPerSec, err = pipelineRun(ctx, ins, "http://"+api.addr, key, "pipe", o.n, o.conns); err != nil {
		return err
	}
	f.CPUPer1k = map[string]float64{}
	for who, s := range cpuSeconds(ctx, rdb, api, workers) {
		f.CPUPer1k[who] = (s - cpu0[who]) * 1000 / float64(o.n)
	}
	if err := wait(); err != nil {
		return err
	}

	f.LatencyRate = f.PipelinePerSec / 2
	step("latency: %.0f notifications/s (half the pipeline's capacity) for %s", f.LatencyRate, o.latencyFor)
	latN := int(f.LatencyRate * o.latencyFor.Seconds())
	if err := seedUsers(ctx, rdb, sb, appID, tmpl.TemplateID, "lat", latN, latN); err != nil {
		return err
	}
	lat, err := latencyRun(ctx, ins, record.NewStore(rdb, appID, time.Hour), sb, "http://"+api.addr, key, "lat", f.LatencyRate, o.latencyFor, o.n)
	if err != nil {
		return err
	}
	f.P50ms, f.P95ms, f.P99ms = ms(percentile(lat, .50)), ms(percentile(lat, .95)), ms(percentile(lat, .99))

	calls := sb.Calls()
	delivered := len(sb.Messages("", ""))
	f.StableTokenCalls = calls[sandbox.EndpointStableToken].Calls
	f.SendsPerDelivered = float64(calls[sandbox.EndpointSend].Calls) / float64(max(1, delivered))
	f.SendsWithoutGrant = calls[sandbox.EndpointSend].Outcomes["43101"]
	if delivered != granted+latN {
		return fmt.Errorf("%d messages delivered; want %d", delivered, granted+latN)
	}

	if ownRedis && o.aofRounds > 0 {
		perRound := max(1, o.n/4)
		step("durability: AOF on, %d rounds of %d notifications per fsync policy, alternating everysec and always", o.aofRounds, perRound)
		aof, err := durabilityRun(ctx, rdb, ins, sb, appID, tmpl.TemplateID, "http://"+api.addr, key, perRound, o.conns, o.aofRounds)
		if err != nil {
			return fmt.Errorf("durability: %w", err)
		}
		f.AOF = &aof
	}

	f.APIPeakRSSMiB = mib(api.peakRSS())
	for _, w := range workers {
		r := mib(w.peakRSS())
		f.WorkerPeakRSSAllMiB = append(f.WorkerPeakRSSAllMiB, r)
		f.WorkerPeakRSSMiB = max(f.WorkerPeakRSSMiB, r)
	}
	// The memory phase and the comparison start programs of their own,
	// alone with Redis.
	for _, w := range workers {
		w.stop()
	}
	api.stop()
	if err := memory(); err != nil {
		return err
	}

	if o.fairness {
		if f.Fairness, err = fairnessRun(ctx, o, rdb, redisURL, bins, dir, step); err != nil {
			return fmt.Errorf("fairness: %w", err)
		}
	}
	if o.hook {
		if err := hooks(); err != nil {
			return err
		}
	}
	if err := compare(); err != nil {
		return err
	}
	f.PipelineRatio = f.PipelinePerSec / f.FloorTasksPerSec
	f.APIRatio = f.APIReqPerSec / f.BareGinReqPerSec
	report(out, f)
	return nil
}

// memoryReport prints the memory phase, size by size: bytes per
// notification against the target, and what each kind of key, the
// keyspace's tables and each size class of allocation took.
func memoryReport(out io.Writer, sizes []MemorySize) {
	for _, m := range sizes {
		r := m.Retained
		row(out, fmt.Sprintf("Redis per retained notification (%d)", m.Notifications), fmt.Sprintf("%.0f B", r.Bytes), "≤ 400 B", r.Bytes <= 400)
		overheadRows(out, r)
		keyRows(out, r.Keys)
		if m.Queued.Keys != nil { // not with -memory-live
			row(out, fmt.Sprintf("Redis per queued notification (%d)", m.Notifications), fmt.Sprintf("%.0f B", m.Queued.Bytes), "", true)
			overheadRows(out, m.Queued)
			keyRows(out, m.Queued.Keys)
		}
		row(out, fmt.Sprintf("  Redis per user, login + accept (%d)", m.Notifications), fmt.Sprintf("%.0f B", m.PerUser.Bytes), "(not in the above)", true)
	}
}

// overheadRows prints what of a phase's bytes went to the keyspace's
// tables, the scripts' cache and the clients, and its allocations by size
// class, which add up to the bytes.
func overheadRows(out io.Writer, p Phase) {
	fmt.Fprintf(out, "    per notification: keyspace tables (MEMORY STATS) main %+.1f B, expires %+.1f B; Lua scripts %+.1f B; client buffers %+.1f B\n",
		p.TablesMain, p.TablesExpires, p.Scripts, p.Clients)
	if len(p.Classes) == 0 {
		return
	}
	var classes []int
	var sum float64
	for c, b := range p.Classes {
		classes = append(classes, c)
		sum += b
	}
	slices.Sort(classes)
	var b strings.Builder
	for _, c := range classes {
		fmt.Fprintf(&b, " %d:%+.1f", c, p.Classes[c])
	}
	// The rest is classes that moved by less than one allocation in 20
	// notifications: buffers and caches Redis allocates once, and the
	// clients' buffers in a live reading.
	fmt.Fprintf(out, "    by size class (MEMORY MALLOC-STATS), B per notification:%s = %+.1f B; the rest %+.1f B\n", b.String(), sum, p.Bytes-sum)
}

// keyRows prints the change in keys per notification, one kind a row.
// A kind's bytes are the mean MEMORY USAGE of a sample of its keys times
// their number per notification; the keyspace's own tables are not in it.
func keyRows(out io.Writer, keys []KeysPer) {
	for _, k := range keys {
		usage := ""
		if k.Usage > 0 {
			usage = fmt.Sprintf("%6.0f B per notification (MEMORY USAGE)", k.Usage*k.Per)
		}
		fmt.Fprintf(out, "    %+.5f × %-50s %s\n", k.Per, k.Kind, usage)
	}
}

func with(env map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for kk, vv := range env {
		out[kk] = vv
	}
	return out
}

// report prints the table, each figure against its target, and the JSON line.
func report(out io.Writer, f Figures) {
	row := func(name, value, target string, ok bool) { row(out, name, value, target, ok) }
	fmt.Fprintf(out, "%-38s %22s   %-24s\n", "measure", "value", "target")
	row("floor: asynq alone", fmt.Sprintf("%.0f tasks/s", f.FloorTasksPerSec), "", true)
	row("pipeline: HTTP → worker → WeChat", fmt.Sprintf("%.0f /s (%.2f×)", f.PipelinePerSec, f.PipelineRatio), "≥ 0.5 × floor", f.PipelineRatio >= 0.5)
	row("  of which: posts accepted", fmt.Sprintf("%.0f /s", f.IngestPerSec), "", true)
	row("  CPU ms per notification", fmt.Sprintf("api %.3f workers %.3f", f.CPUPer1k["api"], f.CPUPer1k["workers"]), "", true)
	row("", fmt.Sprintf("redis %.3f bench %.3f", f.CPUPer1k["redis"], f.CPUPer1k["bench"]), "(bench: sandbox+load)", true)
	row("bare gin handler", fmt.Sprintf("%.0f req/s", f.BareGinReqPerSec), "", true)
	row("POST /v1/notifications", fmt.Sprintf("%.0f req/s (%.2f×)", f.APIReqPerSec, f.APIRatio), "≥ 0.5 × bare gin", f.APIRatio >= 0.5)
	row(fmt.Sprintf("enqueue→send p50/p95 at %.0f/s", f.LatencyRate), fmt.Sprintf("%.1f / %.1f ms", f.P50ms, f.P95ms), "", true)
	row("enqueue→send p99", fmt.Sprintf("%.1f ms", f.P99ms), "≤ 25 ms", f.P99ms <= 25)
	row(fmt.Sprintf("stable_token calls (%d workers)", f.Workers), fmt.Sprint(f.StableTokenCalls), "1 per token lifetime", f.StableTokenCalls == 1)
	row("sends per delivered message", fmt.Sprintf("%.3f", f.SendsPerDelivered), "1", f.SendsPerDelivered == 1)
	row("sends to users without a grant", fmt.Sprint(f.SendsWithoutGrant), "0", f.SendsWithoutGrant == 0)
	if a := f.AOF; a != nil {
		for _, p := range policies {
			row("AOF appendfsync "+p, fmt.Sprintf("%.0f delivered/s, %.0f accepted/s", a.Delivered[p], a.Accepted[p]), fmt.Sprintf("median of %d rounds", a.Rounds), true)
		}
		row("  always ÷ everysec, delivered/s", fmt.Sprintf("%.2f×", a.AlwaysCost), "", true)
	}
	row("peak RSS: api", fmt.Sprintf("%.1f MiB", f.APIPeakRSSMiB), "≤ 64 MiB", f.APIPeakRSSMiB <= 64)
	row("peak RSS: largest worker", fmt.Sprintf("%.1f MiB", f.WorkerPeakRSSMiB), "≤ 64 MiB", f.WorkerPeakRSSMiB <= 64)
	memoryReport(out, f.Memory)
	if f.Fairness != nil {
		fairnessReport(out, f.Fairness)
	}
	if f.Webhook != nil {
		webhookReport(out, f.Webhook)
	}
	if f.Peer != nil {
		comparisonReport(out, f.Peer, f.FloorTasksPerSec)
	}
	printJSON(out, f)
}

// row prints one measure of the table against its target.
func row(out io.Writer, name, value, target string, ok bool) {
	mark := "ok"
	if !ok {
		mark = "MISSED"
	}
	fmt.Fprintf(out, "%-38s %22s   %-24s %s\n", name, value, target, mark)
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// printJSON prints the figures as the one JSON line that ends the output.
func printJSON(out io.Writer, f Figures) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(f)
	fmt.Fprint(out, b.String())
}
