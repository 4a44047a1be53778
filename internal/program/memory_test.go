package program

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/record"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/subscriber"
)

// What one notification leaves in Redis in the real flow — its user logged
// in and subscribed through the api, the notification posted through it,
// delivered by a worker and WeChat's sent event pushed back to the api — is
// its record and one field in its user's hash, and nothing else: no task,
// no msgid meeting key, no claim, sending or ambiguity marker, no key for
// the sent event. The record's string stays in jemalloc's 160-byte class
// and the user's hash a listpack. The bench's memory phase measures the
// same flow in bytes (docs/benchmarks.md).
func TestE2EDeliveredNotificationLeavesItsRecordOnly(t *testing.T) {
	t.Parallel()
	const token = "e2e-push-token"
	s := newStackEnv(t, 1, map[string]string{"WECHAT_PUSH_TOKEN": token})
	if err := s.sb.SetPush(sandbox.Push{URL: s.api.addr + "/v1/wx/events", Token: token}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	pushes := 0
	// user logs a user in, accepts the template at WeChat (a popup push) and
	// reports it, and waits for the popup push to be acknowledged.
	user := func() string {
		openid := s.user(1, 1)
		pushes++
		s.waitPushes(pushes)
		return openid
	}
	// deliver posts a notification to openid and waits until it is delivered
	// and WeChat's sent event for it acknowledged.
	deliver := func(openid, dedupe string) string {
		id := s.notify(openid, dedupe, nil)
		if st := s.waitState(id, "completed", 10*time.Second); result(st, "status") != "delivered" {
			t.Fatalf("notification %s: %v; want delivered", id, st)
		}
		pushes++
		s.waitPushes(pushes)
		return id
	}
	// One notification first, so that what Redis keeps once per app or
	// queue (the token, asynq's queue list and counters) is there.
	deliver(user(), "order-warm")

	openid := user()
	before := s.keys(ctx)
	id := deliver(openid, "order-TX20261124001")
	after := s.keys(ctx)

	recordKey := record.NewKeys(sandboxtest.AppID).Record(id)
	// Counts per day (asynq's) and per hour (the console's) are per period, not per notification.
	periodic := regexp.MustCompile(`^asynq:\{[^}]+\}:processed:\d{4}-\d\d-\d\d$|^wxnotify:[^:]+:outcomes:\d+$`)
	var added []string
	for k := range after {
		if _, ok := before[k]; !ok && !periodic.MatchString(k) {
			added = append(added, k)
		}
	}
	if len(added) != 1 || added[0] != recordKey {
		t.Fatalf("a delivered notification left %v; want its record %s alone", added, recordKey)
	}

	binding := subscriber.NewKeys(sandboxtest.AppID).Binding(openid)
	fields := s.rdb.HKeys(ctx, binding).Val()
	var listed int
	for _, f := range fields {
		if strings.HasPrefix(f, "n:") {
			listed++
		}
	}
	if len(fields) != 4 || listed != 1 {
		t.Fatalf("the user's hash holds %q; want the binding's 3 fields and the notification's entry", fields)
	}
	if enc := s.rdb.ObjectEncoding(ctx, binding).Val(); enc != "listpack" {
		t.Fatalf("the user's hash is %s; want listpack", enc)
	}
	// A 28-character openid and a 19-character dedupe key, delivered with
	// WeChat's sent event: at most 156 bytes is jemalloc's 160-byte class
	// (with 3 bytes of header and a NUL); MEMORY USAGE adds the 80-byte key
	// of an 18-character appid, the robj and the keyspace's dictEntry.
	val := s.rdb.Get(ctx, recordKey).Val()
	if usage := s.rdb.MemoryUsage(ctx, recordKey).Val(); len(val) > 156 || usage > 280 {
		t.Fatalf("the record is %d bytes, %d with its key in Redis; want at most 156 and 280: %q", len(val), usage, val)
	}
	if ttl := s.rdb.TTL(ctx, recordKey).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("the record is kept %s; want NOTIFICATION_RETENTION (1h)", ttl)
	}
	_, st := s.call("GET", "/v1/notifications/"+id, e2eKey, nil)
	if w, _ := st["wechat"].(map[string]any); w["error_status"] != "success" {
		t.Fatalf("status %v; want WeChat's sent event on it", st)
	}
}

// keys are the keys of the stack's database, each with its type.
func (s *stack) keys(ctx context.Context) map[string]string {
	s.t.Helper()
	out := map[string]string{}
	iter := s.rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		out[iter.Val()] = s.rdb.Type(ctx, iter.Val()).Val()
	}
	if err := iter.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// waitPushes waits until the sandbox has had n pushes acknowledged (the api
// applies a sent event before it answers).
func (s *stack) waitPushes(n int) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.sb.Calls()["push"].Outcomes
		if got["success"] >= n {
			return
		}
		if time.Now().After(deadline) || got["given_up"] > 0 {
			s.t.Fatalf("pushes %v; want %d acknowledged", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
