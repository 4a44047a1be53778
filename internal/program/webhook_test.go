package program

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"wxnotify/internal/record"
	"wxnotify/internal/redistest"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/webhook"
	"wxnotify/internal/webhook/webhooktest"
)

const webhookSecret = "e2e-webhook-secret-of-32-bytes-0"

// webhookEnv is the programs' environment for the single app's webhook to
// rcv, and extra.
func webhookEnv(rcv *webhooktest.Receiver, extra map[string]string) map[string]string {
	env := map[string]string{"WEBHOOK_URL": rcv.URL, "WEBHOOK_SECRET": webhookSecret}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// With a webhook, a notification archived (WeChat refused the openid) and
// one delivered each reach the order service's receiver once, signed, with
// what GET /v1/notifications/{id} says of them and nothing of the user.
func TestWebhookTellsEachOutcomeOnce(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.Start(t, webhookSecret)
	s := newStackEnv(t, 1, webhookEnv(rcv, nil), func(c *sandbox.Config) {
		c.Faults.Script = []sandbox.Scripted{{Endpoint: sandbox.EndpointSend, ErrCode: 40003}}
	})
	user := s.user(2, 2)
	archived := s.notify(user, "order-hook-1", nil)
	s.waitState(archived, "archived", 10*time.Second)
	delivered := s.notify(user, "order-hook-2", nil)
	s.waitState(delivered, "completed", 10*time.Second)

	want := map[string]string{
		webhook.EventID(archived, record.Archived):   archived,
		webhook.EventID(delivered, record.Completed): delivered,
	}
	// The relay is poked by the final write and the webhook server picks
	// the event up within its idle wait (200 ms): well within a second,
	// and 10 s on a machine busy with other tests.
	rcv.Wait(t, 10*time.Second, "told both outcomes", func(r *webhooktest.Receiver) bool { return len(r.Accepted()) == len(want) })
	for _, ev := range rcv.Accepted() {
		id, ok := want[ev.ID]
		if !ok || ev.Notification.ID != id || ev.App != "default" || rcv.Tries(ev.ID) != 1 {
			t.Fatalf("event %+v (%d tries); want one of %v, at its first try", ev, rcv.Tries(ev.ID), want)
		}
		_, st := s.call("GET", "/v1/notifications/"+id, e2eKey, nil)
		n := ev.Notification
		if string(n.State) != st["state"] || n.DedupeKey != st["dedupe_key"] || float64(n.Attempts) != st["attempts"] {
			t.Errorf("event %+v; the API says %v", n, st)
		}
		switch ev.Type {
		case webhook.TypeArchived:
			if n.ErrCode != 40003 || !strings.Contains(n.LastError, "40003") || n.Result != nil {
				t.Errorf("archived event %+v", n)
			}
		case webhook.TypeCompleted:
			if n.Result == nil || n.Result.Status != record.Delivered || n.Result.MsgID != result(st, "msgid") {
				t.Errorf("completed event %+v; the API says %v", n, st)
			}
		}
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), user) {
			t.Errorf("the event names the user's openid: %s", b)
		}
	}
	if rcv.Redelivered() != 0 || len(rcv.Refused()) != 0 {
		t.Fatalf("%d redelivered, refused %v; want every event once, verified", rcv.Redelivered(), rcv.Refused())
	}
	if logs := s.workers[0].logs.String(); strings.Contains(logs, webhookSecret) || strings.Contains(logs, "/hooks/wxnotify") {
		t.Error("the worker logged the webhook's secret or its URL")
	}
}

// A receiver taking 5 s to answer holds a webhook slot, never a send's:
// with one slot of each, the next notification is sent and completed while
// the receiver still holds the first event's request.
func TestWebhookSlowReceiverDoesNotDelaySends(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.Start(t, webhookSecret)
	holding, release := make(chan struct{}), make(chan struct{})
	var held, answered atomic.Bool
	rcv.Answer(func(webhook.Event, int) int {
		if held.CompareAndSwap(false, true) {
			close(holding)
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
			answered.Store(true)
		}
		return http.StatusOK
	})
	s := newStackEnv(t, 1, webhookEnv(rcv, map[string]string{"WORKER_CONCURRENCY": "1", "WEBHOOK_CONCURRENCY": "1"}))
	user := s.user(2, 2)
	first := s.notify(user, "order-slow-1", nil)
	s.waitState(first, "completed", 10*time.Second)
	select {
	case <-holding:
	case <-time.After(10 * time.Second):
		t.Fatal("the first event never reached the receiver")
	}
	second := s.notify(user, "order-slow-2", nil)
	s.waitState(second, "completed", 10*time.Second)
	if answered.Load() {
		t.Fatal("the second notification completed only after the slow receiver answered the first event")
	}
	if n := len(s.sb.Messages(user, "")); n != 2 {
		t.Fatalf("%d messages; want 2", n)
	}
	close(release)
	rcv.Wait(t, 10*time.Second, "told both", func(r *webhooktest.Receiver) bool {
		return r.Has(webhook.EventID(first, record.Completed)) && r.Has(webhook.EventID(second, record.Completed))
	})
}

// Through a worker SIGKILLed mid-load (and replaced) and Redis killed and
// restarted (AOF, appendfsync always), every notification's event reaches
// a receiver that dedupes by event id exactly once; the raw tries it
// dropped as duplicates are the price of at least once, and the figure.
//
// The killed worker's share comes back by three leases: its notifications'
// and its webhook tasks' by asynq's recoverer (60–120 s after the kill, as
// in TestFaultWorkerKilledMidLoad), its relay's outbox entries a minute
// after its claim (webhook.DefaultLease). The deadline is the latest of
// them, plus the slack of a busy machine.
func TestWebhookFaultWorkerKilledAndRedisRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq to recover the killed worker's tasks (about a minute)")
	}
	t.Parallel()
	const n = 200
	rcv := webhooktest.Start(t, webhookSecret)
	rcv.Answer(func(webhook.Event, int) int {
		time.Sleep(20 * time.Millisecond) // the receiver's own work: events are in flight at the kill
		return http.StatusOK
	})
	srv := redistest.StartServer(t, redistest.Config{AppendOnly: true, AppendFsync: "always"})
	s := newStackEnv(t, 0, webhookEnv(rcv, map[string]string{"REDIS_URL": srv.URL(0), "REDIS_TIMEOUT": "500ms", "WEBHOOK_CONCURRENCY": "4"}),
		func(c *sandbox.Config) { c.Faults.Latency = sandbox.Duration(10 * time.Millisecond) })
	want := map[string]bool{}
	for i := range n {
		id := s.notify(s.user(1, 1), fmt.Sprintf("hook-fault-%d", i), nil)
		want[webhook.EventID(id, record.Completed)] = true
	}
	victim := startWorkerProcess(t, s, "worker-0")
	startWorkerProcess(t, s, "worker-1")
	rcv.Wait(t, time.Minute, "told a quarter", func(r *webhooktest.Receiver) bool { return len(r.Accepted()) >= n/4 })
	killed := time.Now()
	if err := victim.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	atKill := len(rcv.Accepted())
	startWorkerProcess(t, s, "worker-replacement")
	replaced := time.Now()
	rcv.Wait(t, time.Minute, "told half", func(r *webhooktest.Receiver) bool { return len(r.Accepted()) >= n/2 })
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	atRedisKill := len(rcv.Accepted())
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	limit := time.Until(replaced.Add(webhook.DefaultLease + 2*time.Minute))
	rcv.Wait(t, limit, "told every event", func(r *webhooktest.Receiver) bool { return len(r.Accepted()) == n })
	for _, ev := range rcv.Accepted() {
		if !want[ev.ID] {
			t.Fatalf("event %s was not expected: %+v", ev.ID, ev)
		}
	}
	if refused := rcv.Refused(); len(refused) != 0 {
		t.Fatalf("refused %v", refused)
	}
	t.Logf("FIGURE webhook faults: %d events, %d told before the SIGKILL, %d before Redis was killed; all %d told once after dedupe, the last %s after the kill; %d duplicate tries dropped by event id",
		n, atKill, atRedisKill, n, time.Since(killed).Round(100*time.Millisecond), rcv.Redelivered())
	if atKill > n-20 {
		t.Fatalf("only %d events were left when the worker died: the test did not kill mid-load", n-atKill)
	}
}
