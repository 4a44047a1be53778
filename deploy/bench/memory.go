package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
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

// postAll posts n notifications made by body from conns goroutines.
func postAll(ctx context.Context, api, key string, n, conns int, body func(i int) []byte) error {
	client := loadClient(conns)
	return forEach(n, conns, func(i int) error { return post(ctx, client, api, key, body(i)) })
}

// forEach calls f(i) for i from 0 to n-1 from conns goroutines, and stops
// at the first error, which it returns.
func forEach(n, conns int, f func(i int) error) error {
	jobs := make(chan int)
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for i := range jobs {
				if err := f(i); err != nil {
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

// snapshot is Redis at one moment of the memory phase: used_memory (less
// client buffers unless live), the keys by kind with a sample of each, the
// keyspace's tables, and the allocations by size class.
type snapshot struct {
	clients int64
	memory  int64
	keys    map[string]int
	sample  map[string][]string
	tables  tables
	classes map[int]int64
}

// take reads a snapshot once no more than clients clients are connected
// (any number when clients < 0): then the api's and workers' connections
// are gone, and their buffers with them. live reads used_memory as it is,
// client buffers included, as one measuring from outside with the
// programs running does.
func take(ctx context.Context, rdb *redis.Client, clients int64, live bool) (snapshot, error) {
	var s snapshot
	var err error
	if live {
		clients = -1
	}
	if s.clients, s.memory, err = quietMemory(ctx, rdb, clients); err != nil {
		return s, err
	}
	if s.tables, err = hashTables(ctx, rdb); err != nil {
		return s, err
	}
	if live {
		s.memory += s.tables.clients
	}
	if s.classes, err = sizeClasses(ctx, rdb); err != nil {
		return s, err
	}
	s.keys, s.sample, err = keyKinds(ctx, rdb)
	return s, err
}

// tables is what the database's keyspace tables take (MEMORY STATS
// overhead.hashtable.main and .expires): each key's dictEntry and robj as
// Redis counts them (24 and 16 bytes; jemalloc gives the entry 32) and the
// buckets, counted at the table's size, which Redis doubles when the keys
// reach it — both tables while it rehashes. scripts is the server's cache
// of Lua scripts (INFO memory used_memory_scripts): each script once, the
// first time a program runs it. clients is what the connected clients'
// buffers take (mem_clients_normal).
type tables struct{ main, expires, scripts, clients int64 }

// hashTables reads the keyspace tables of rdb's database from MEMORY
// STATS, and the scripts' cache and the clients from INFO memory.
func hashTables(ctx context.Context, rdb *redis.Client) (tables, error) {
	v, err := rdb.Do(ctx, "MEMORY", "STATS").Result()
	if err != nil {
		return tables{}, fmt.Errorf("MEMORY STATS: %w", err)
	}
	db := asMap(asMap(v)[fmt.Sprintf("db.%d", rdb.Options().DB)])
	t := tables{}
	t.main, _ = db["overhead.hashtable.main"].(int64)
	t.expires, _ = db["overhead.hashtable.expires"].(int64)
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return tables{}, fmt.Errorf("INFO memory: %w", err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "used_memory_scripts":
			t.scripts, _ = strconv.ParseInt(v, 10, 64)
		case "mem_clients_normal":
			t.clients, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return t, nil
}

// asMap reads a reply that is a map in RESP3 and a flat list of pairs in
// RESP2.
func asMap(v any) map[string]any {
	out := map[string]any{}
	switch m := v.(type) {
	case map[any]any:
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			out[fmt.Sprint(m[i])] = m[i+1]
		}
	}
	return out
}

// sizeClasses reads jemalloc's bytes allocated by size class from MEMORY
// MALLOC-STATS (its "bins:" and "large:" tables): where MEMORY USAGE
// counts what Redis asks for, this is what it gets — a dictEntry of 24
// bytes takes 32, a string of 181 bytes takes 192. nil from a Redis not
// built with jemalloc.
func sizeClasses(ctx context.Context, rdb *redis.Client) (map[int]int64, error) {
	stats, err := rdb.Do(ctx, "MEMORY", "MALLOC-STATS").Text()
	if err != nil {
		return nil, fmt.Errorf("MEMORY MALLOC-STATS: %w", err)
	}
	var out map[int]int64
	table := false
	for line := range strings.SplitSeq(stats, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && (f[0] == "bins:" || f[0] == "large:"):
			table = true
		case table && len(f) > 3:
			size, err1 := strconv.Atoi(f[0])
			bytes, err2 := strconv.ParseInt(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				table = false
				continue
			}
			if out == nil {
				out = map[int]int64{}
			}
			out[size] += bytes
		default:
			table = false
		}
	}
	return out, nil
}

// Phase is what one step of the memory phase left in Redis, per
// notification.
type Phase struct {
	Bytes float64   `json:"redis_bytes"`
	Keys  []KeysPer `json:"keys"`
	// TablesMain and TablesExpires are the part of Bytes that is the
	// keyspace's hash tables (MEMORY STATS): a key's entry and robj, and
	// the buckets, which move in steps as Redis doubles a table.
	TablesMain    float64 `json:"tables_main"`
	TablesExpires float64 `json:"tables_expires"`
	// Scripts is the part that is Lua scripts cached the first time a
	// program ran them. Clients is the change in the clients' buffers,
	// part of Bytes only in live readings.
	Scripts float64 `json:"scripts"`
	Clients float64 `json:"clients"`
	// Classes is jemalloc's allocations by size class (bytes), the change
	// per notification: what Bytes is made of, allocation by allocation.
	Classes map[int]float64 `json:"allocations_by_size_class,omitempty"`
}

// delta is what happened between two snapshots, per notification, with the
// mean MEMORY USAGE of a sample of each kind that grew.
func delta(ctx context.Context, rdb *redis.Client, before, after snapshot, n int) (Phase, error) {
	per := func(d int64) float64 { return float64(d) / float64(n) }
	p := Phase{
		Bytes: per(after.memory - before.memory), Keys: keysDelta(before.keys, after.keys, n),
		TablesMain: per(after.tables.main - before.tables.main), TablesExpires: per(after.tables.expires - before.tables.expires),
		Scripts: per(after.tables.scripts - before.tables.scripts), Clients: per(after.tables.clients - before.tables.clients),
	}
	if after.classes != nil && before.classes != nil {
		p.Classes = map[int]float64{}
		for c, b := range after.classes {
			// A class that moved by less than one allocation in 20
			// notifications is Redis's own churn, not the notifications'.
			if d := per(b - before.classes[c]); d >= float64(c)/20 || d <= -float64(c)/20 {
				p.Classes[c] = d
			}
		}
	}
	for i, k := range p.Keys {
		if k.Per > 0 {
			var err error
			if p.Keys[i].Usage, err = usage(ctx, rdb, after.sample[k.Kind]); err != nil {
				return p, err
			}
		}
	}
	return p, nil
}

// MemorySize is the memory phase at one size: n users, each with one
// notification delivered (retained), then one more queued an hour ahead.
type MemorySize struct {
	Notifications int   `json:"notifications"`
	Retained      Phase `json:"retained"`
	Queued        Phase `json:"queued"`
	// PerUser is what a user's login and subscription left (its popup
	// push's key among it), for context: not in the notifications' figures.
	PerUser Phase `json:"per_user"`
}

// memoryStack runs the real flow for the memory phase: a fresh api and
// workers on a flushed database, with WeChat's message push on.
type memoryStack struct {
	rdb     *redis.Client
	ins     *asynq.Inspector
	sb      *sandbox.Sandbox
	env     map[string]string // the api's and workers' environment, push token included
	bins    map[string]string
	logDir  string
	workers int
	conns   int
	tmplID  string
	key     string
	// live reads used_memory with the api and workers running, client
	// buffers included, as one measuring from outside does.
	live bool

	apiRSS, workerRSS int64 // the largest peak RSS of any run
}

// memoryProcs are the stack's processes of one step; stop ends them all
// and notes their peak RSS.
type memoryProcs struct {
	stack *memoryStack
	procs []*proc // the api first
}

func (m *memoryProcs) stop() {
	for i, p := range slices.Backward(m.procs) {
		if i == 0 {
			m.stack.apiRSS = max(m.stack.apiRSS, p.peakRSS())
		} else {
			m.stack.workerRSS = max(m.stack.workerRSS, p.peakRSS())
		}
		p.stop()
	}
	m.procs = nil
}

// start runs the api on addr and, with workers, the worker processes.
func (s *memoryStack) start(ctx context.Context, name, addr string, workers bool) (*memoryProcs, error) {
	m := &memoryProcs{stack: s}
	env := with(s.env, "HTTP_ADDR", addr)
	api, err := startProc(ctx, name+"-api", s.bins["api"], nil, env, addr, s.logDir)
	if err != nil {
		return nil, err
	}
	m.procs = append(m.procs, api)
	for i := range s.workers {
		if !workers {
			break
		}
		wenv := with(s.env, "WORKER_HTTP_ADDR", freeAddr())
		w, err := startProc(ctx, fmt.Sprintf("%s-worker-%d", name, i), s.bins["worker"], nil, wenv, wenv["WORKER_HTTP_ADDR"], s.logDir)
		if err != nil {
			m.stop()
			return nil, err
		}
		m.procs = append(m.procs, w)
	}
	return m, nil
}

// openID is user i's openid at size tag: 28 characters, as WeChat's are,
// since without the business's JWT the openid is the user id, and the user
// id is in every key and record of the user's.
func openID(tag string, i int) string { return fmt.Sprintf("o%s%0*d", tag, 27-len(tag), i) }

// memorySize measures n users' notifications in the real flow. The users
// first log in and subscribe as a mini program's do, with WeChat's message
// push on (its popup events, acknowledged); that is the baseline. Then one
// notification each is posted through the api and delivered by the
// workers, with the sandbox pushing each sent event to the api, until the
// queue is drained and every push acknowledged: retained. Then one more
// each is posted with send_at an hour ahead: queued. Each reading is taken
// with the api and workers stopped, so that no client buffer is counted
// (unless live).
func (s *memoryStack) memorySize(ctx context.Context, tag string, n int, step func(string, ...any)) (MemorySize, error) {
	out := MemorySize{Notifications: n}
	if err := s.rdb.FlushDB(ctx).Err(); err != nil {
		return out, fmt.Errorf("FLUSHDB: %w", err)
	}
	addr := freeAddr()
	api := "http://" + addr
	if err := s.sb.SetPush(sandbox.Push{URL: api + "/v1/wx/events", Token: s.env["WECHAT_PUSH_TOKEN"]}); err != nil {
		return out, err
	}
	defer func() { _ = s.sb.SetPush(sandbox.Push{}) }()

	empty, err := take(ctx, s.rdb, -1, false)
	if err != nil {
		return out, err
	}
	step("memory %s: %d users log in and accept the template, through the api", tag, n)
	procs, err := s.start(ctx, tag+"-users", addr, true)
	if err != nil {
		return out, err
	}
	defer func() { procs.stop() }()
	pushes := s.sb.Calls()["push"].Outcomes["success"]
	if err := s.users(ctx, api, tag, n); err != nil {
		return out, err
	}
	before, err := s.settle(ctx, procs, pushes+n, empty.clients) // the popup events
	if err != nil {
		return out, err
	}
	if out.PerUser, err = delta(ctx, s.rdb, empty, before, n); err != nil {
		return out, err
	}

	step("memory %s: one notification each, delivered with the sent events pushed", tag)
	if !s.live {
		if procs, err = s.start(ctx, tag+"-retained", addr, true); err != nil {
			return out, err
		}
	}
	pushes = s.sb.Calls()["push"].Outcomes["success"]
	err = postAll(ctx, api, s.key, n, s.conns, func(i int) []byte {
		return notifyBody(openID(tag, i), fmt.Sprintf("%s-order-%d", tag, i))
	})
	if err != nil {
		return out, err
	}
	// The database was flushed: asynq's count of processed tasks started at 0.
	if err := drain(ctx, s.ins, n, 5*time.Minute); err != nil {
		return out, err
	}
	after, err := s.settle(ctx, procs, pushes+n, before.clients) // the sent events
	if err != nil {
		return out, err
	}
	procs.stop()
	if out.Retained, err = delta(ctx, s.rdb, before, after, n); err != nil {
		return out, err
	}

	step("memory %s: one more notification each, queued an hour ahead", tag)
	if procs, err = s.start(ctx, tag+"-queued", addr, false); err != nil {
		return out, err
	}
	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	err = postAll(ctx, api, s.key, n, s.conns, func(i int) []byte {
		var b map[string]any
		_ = json.Unmarshal(notifyBody(openID(tag, i), fmt.Sprintf("%s-later-%d", tag, i)), &b)
		b["send_at"] = at
		out, _ := json.Marshal(b)
		return out
	})
	if err != nil {
		return out, err
	}
	procs.stop()
	q, err := s.ins.GetQueueInfo(task.QueueName)
	if err != nil {
		return out, err
	}
	if q.Scheduled != n {
		return out, fmt.Errorf("%d notifications scheduled; want %d", q.Scheduled, n)
	}
	queued, err := take(ctx, s.rdb, before.clients, false)
	if err != nil {
		return out, err
	}
	if !s.live {
		out.Queued, err = delta(ctx, s.rdb, after, queued, n)
	}
	return out, err
}

// settle waits until the sandbox has had pushes acknowledged, stops the
// processes (unless live) and takes a snapshot with no more than clients
// clients connected.
func (s *memoryStack) settle(ctx context.Context, procs *memoryProcs, pushes int, clients int64) (snapshot, error) {
	if err := waitPushes(ctx, s.sb, pushes, time.Minute); err != nil {
		return snapshot{}, err
	}
	if !s.live {
		procs.stop()
	}
	return take(ctx, s.rdb, clients, s.live)
}

// users logs n users in and has each accept the template, as a mini
// program's users do: wx.login at WeChat (the sandbox's code), POST
// /v1/wx/login for a session (no JWT: the openid is the user id), the
// popup accepted at WeChat (the sandbox's subscription control, which
// pushes the popup event to the api), and POST /v1/subscriptions with the
// popup's result.
func (s *memoryStack) users(ctx context.Context, api, tag string, n int) error {
	client := loadClient(s.conns)
	return forEach(n, s.conns, func(i int) error {
		code, openid := s.sb.Login(openID(tag, i), "", false)
		var login struct {
			SessionToken string `json:"session_token"`
			UserID       string `json:"user_id"`
		}
		body, _ := json.Marshal(map[string]string{"code": code})
		if err := call(ctx, client, api+"/v1/wx/login", "", body, &login); err != nil {
			return err
		}
		if login.UserID != openid {
			return fmt.Errorf("login of %s: user %q", openid, login.UserID)
		}
		if _, err := s.sb.Subscribe(openid, s.tmplID, sandbox.Accept, 1); err != nil {
			return err
		}
		body, _ = json.Marshal(map[string]string{s.tmplID: "accept", "errMsg": "requestSubscribeMessage:ok"})
		return call(ctx, client, api+"/v1/subscriptions", login.SessionToken, body, nil)
	})
}

// call POSTs body to url with bearer (if any), fails on anything but 200,
// and decodes the answer into out (if any).
func call(ctx context.Context, client *http.Client, url, bearer string, body []byte, out any) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s answered %d: %s", url, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	return nil
}

// waitPushes waits until the sandbox has had n pushes acknowledged since
// it started; one it gave up on is an error. The api applies a sent event
// before it answers, so an acknowledged sent event is in Redis.
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
