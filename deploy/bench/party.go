package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/task"
)

// arena is what both sides of the comparison share: one Redis database
// (flushed before each run), the sandbox, the built programs, the load.
type arena struct {
	rdb       *redis.Client // the comparison's database
	redisAddr string        // the same server over TCP (silenceper's cache speaks nothing else)
	db        int
	sb        *sandbox.Sandbox
	env       map[string]string // wxnotify's environment, REDIS_URL aside
	appID     string
	secret    string
	wechatURL string
	tmplID    string
	key       string // the order service's API key, both parties
	bins      map[string]string
	logDir    string
	workers   int
	conns     int
	taskCheck string // the naive worker's -task-check-interval
	// profile is where CPU profiles of each party's api and first worker
	// during its first round go ("" for none); pprof holds their pprof
	// addresses by process ("api", "worker", "naive-api", "naive-worker").
	profile string
	pprof   map[string]string
}

// pprofAddr is the pprof address process name serves on, noted for the
// profiles; "" when no profiles are wanted.
func (a *arena) pprofAddr(name string) string {
	if a.profile == "" {
		return ""
	}
	if a.pprof == nil {
		a.pprof = map[string]string{}
	}
	a.pprof[name] = freeAddr()
	return a.pprof[name]
}

// withPprof is env with PPROF_ADDR set when process name is profiled.
func (a *arena) withPprof(env map[string]string, name string) map[string]string {
	if addr := a.pprofAddr(name); addr != "" {
		env["PPROF_ADDR"] = addr
	}
	return env
}

// party is one side of the comparison: how its programs start and what
// state its users need in Redis.
type party struct {
	name  string // "wxnotify" or "naive"
	queue string // the asynq queue its tasks go through
	// seed stores count users "<prefix>-<i>" (openid "o-<prefix>-<i>"), the
	// first granted of them holding a grant where the party keeps one.
	seed   func(ctx context.Context, a *arena, prefix string, count, granted int) error
	api    func(ctx context.Context, a *arena, run string) (*proc, error)
	worker func(ctx context.Context, a *arena, run string, i int) (*proc, error)
}

// parties are wxnotify and the naive peer, in the order rounds alternate.
var parties = []party{
	{
		name: "wxnotify", queue: task.QueueName,
		seed: func(ctx context.Context, a *arena, prefix string, count, granted int) error {
			return seedUsers(ctx, a.rdb, a.sb, a.appID, a.tmplID, prefix, count, granted)
		},
		api: func(ctx context.Context, a *arena, run string) (*proc, error) {
			env := a.withPprof(a.wxEnv("HTTP_ADDR", freeAddr()), "api")
			return startProc(ctx, run+"-api", a.bins["api"], nil, env, env["HTTP_ADDR"], a.logDir)
		},
		worker: func(ctx context.Context, a *arena, run string, i int) (*proc, error) {
			env := a.wxEnv("WORKER_HTTP_ADDR", freeAddr())
			if i == 0 {
				env = a.withPprof(env, "worker")
			}
			return startProc(ctx, fmt.Sprintf("%s-worker-%d", run, i), a.bins["worker"], nil, env, env["WORKER_HTTP_ADDR"], a.logDir)
		},
	},
	{
		name: "naive", queue: "default",
		seed: seedNaive,
		api: func(ctx context.Context, a *arena, run string) (*proc, error) {
			addr := freeAddr()
			args := []string{"-api", "-addr", addr, "-redis", a.redisAddr, "-db", strconv.Itoa(a.db), "-api-key", a.key}
			if addr := a.pprofAddr("naive-api"); addr != "" {
				args = append(args, "-pprof", addr)
			}
			return startProc(ctx, run+"-api", a.bins["naive"], args, nil, addr, a.logDir)
		},
		worker: func(ctx context.Context, a *arena, run string, i int) (*proc, error) {
			addr := freeAddr()
			args := []string{"-worker", "-health", addr, "-redis", a.redisAddr, "-db", strconv.Itoa(a.db),
				"-appid", a.appID, "-secret", a.secret, "-wechat", a.wechatURL, "-concurrency", "50", "-task-check-interval", a.taskCheck}
			if i == 0 {
				if addr := a.pprofAddr("naive-worker"); addr != "" {
					args = append(args, "-pprof", addr)
				}
			}
			return startProc(ctx, fmt.Sprintf("%s-worker-%d", run, i), a.bins["naive"], args, nil, addr, a.logDir)
		},
	},
}

// wxEnv is wxnotify's environment on the comparison's database, plus k=v.
func (a *arena) wxEnv(k, v string) map[string]string {
	env := with(a.env, k, v)
	env["REDIS_URL"] = fmt.Sprintf("redis://%s/%d", a.redisAddr, a.db)
	// The comparison runs without WeChat's message push (the peer has none):
	// configured as such a deployment would be, with no msgid to link.
	delete(env, "WECHAT_PUSH_TOKEN")
	env["WECHAT_SENT_EVENTS"] = "false"
	return env
}

// seedNaive stores what the naive peer's login would have: user → openid,
// one key each; grants live at WeChat only.
func seedNaive(ctx context.Context, a *arena, prefix string, count, granted int) error {
	for start := 0; start < count; start += 1000 {
		_, err := a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+1000, count); i++ {
				p.Set(ctx, fmt.Sprintf("user:%s-%d:openid", prefix, i), fmt.Sprintf("o-%s-%d", prefix, i), 0)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed the naive peer's users: %w", err)
		}
	}
	return seedSandbox(a.sb, a.tmplID, prefix, count, granted)
}

// running is one party's programs during one run.
type running struct {
	api     *proc
	workers []*proc
	// peak RSS in bytes of the api and of the largest worker, read at stop
	apiRSS, workerRSS int64
}

// start runs the party's api and, with workers, its worker processes.
func (p party) start(ctx context.Context, a *arena, run string, workers bool) (*running, error) {
	api, err := p.api(ctx, a, run)
	if err != nil {
		return nil, fmt.Errorf("%s api: %w", p.name, err)
	}
	r := &running{api: api}
	if workers {
		if err := r.startWorkers(ctx, p, a, run); err != nil {
			r.stop()
			return nil, err
		}
	}
	return r, nil
}

// startWorkers runs the party's a.workers worker processes.
func (r *running) startWorkers(ctx context.Context, p party, a *arena, run string) error {
	for i := range a.workers {
		w, err := p.worker(ctx, a, run, i)
		if err != nil {
			return fmt.Errorf("%s worker %d: %w", p.name, i, err)
		}
		r.workers = append(r.workers, w)
	}
	return nil
}

// stop records the peak RSS of each process and stops them.
func (r *running) stop() {
	r.apiRSS = r.api.peakRSS()
	for _, w := range r.workers {
		r.workerRSS = max(r.workerRSS, w.peakRSS())
	}
	for _, w := range r.workers {
		w.stop()
	}
	r.api.stop()
}
