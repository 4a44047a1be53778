package webhook_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/webhook"
	"wxnotify/internal/webhook/webhooktest"
)

// The schedule retries for more than a day before an event is dead, and
// no wait is shorter than the base or longer than the cap's 1.2.
func TestScheduleSpansADay(t *testing.T) {
	t.Parallel()
	s := webhook.DefaultSchedule
	var span time.Duration
	for n := range webhook.MaxRetry {
		d := s.Delay(n)
		if d < s.Base || d > s.Cap*6/5 {
			t.Fatalf("retry %d waits %s; want between %s and %s", n+1, d, s.Base, s.Cap*6/5)
		}
		span += d
	}
	if span < 24*time.Hour {
		t.Fatalf("%d retries span %s; want at least 24h", webhook.MaxRetry, span)
	}
	t.Logf("FIGURE webhook retries: %d over %s (first %s, then doubling to %s)", webhook.MaxRetry, span.Round(time.Minute), s.Base, s.Cap)
}

// A receiver that fails three times gets the event at the fourth try,
// signed afresh each time, once; after that, a relay that finds the entry
// again (its first relay died before the ack) finds the event's id taken
// for the retention, and queues nothing.
func TestRetriesUntilTheReceiverAccepts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := webhooktest.Start(t, testSecret)
	const failures = 3
	rcv.Answer(func(_ webhook.Event, try int) int {
		if try <= failures {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	f.serve(rcv, "")
	r := f.relay(0, 0)
	id := f.finish("order-retried", record.Completed)
	if p := f.pass(r); p.Queued != 1 {
		t.Fatalf("pass %+v", p)
	}
	event := webhook.EventID(id, record.Completed)
	rcv.Wait(t, within(failures+1), "given the event", func(r *webhooktest.Receiver) bool { return r.Has(event) })
	if n, refused := rcv.Tries(event), rcv.Refused(); n != failures+1 || len(refused) != 0 || rcv.Redelivered() != 0 {
		t.Fatalf("%d tries, refused %v, %d redelivered; want %d verified tries and one acceptance", n, refused, rcv.Redelivered(), failures+1)
	}
	if ev := rcv.Accepted()[0]; ev.Notification.ID != id || ev.Type != webhook.TypeCompleted || ev.App != testApp {
		t.Fatalf("accepted %+v", ev)
	}
	deadline := time.Now().Add(5 * time.Second) // asynq records the completion after the answer
	for {
		info, err := f.ins.GetTaskInfo(webhook.Queue(testAppID), event)
		if err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %+v, %v; want it completed, kept for the retention", info, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := redisconn.RunScripts(context.Background(), f.rdb, f.outbox.AddCall(id)); err != nil {
		t.Fatal(err)
	}
	if p := f.pass(r); p.Already != 1 || p.Queued != 0 {
		t.Fatalf("pass over the delivered event's entry %+v; want it found queued", p)
	}
}

// An event whose retries ran out is in the dead list, with the receiver's
// last answer; re-run (asynqmon's Run button) once the receiver is back,
// it is delivered and leaves the list.
func TestDeadListShowsAnEventWhoseRetriesRanOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := webhooktest.Start(t, testSecret)
	rcv.Answer(func(webhook.Event, int) int { return http.StatusServiceUnavailable })
	f.serve(rcv, "")
	const maxRetry = 2
	id := f.finish("order-dead", record.Archived)
	if p := f.pass(f.relay(0, maxRetry)); p.Queued != 1 {
		t.Fatalf("pass %+v", p)
	}
	event := webhook.EventID(id, record.Archived)
	dead := waitDead(t, f, within(maxRetry+1))
	d := dead[0]
	if len(dead) != 1 || d.Event.ID != event || d.Event.Type != webhook.TypeArchived || d.Event.Notification.ID != id || d.Tries != maxRetry+1 ||
		!strings.Contains(d.LastError, "503") || !strings.Contains(d.LastError, "Service Unavailable") || time.Since(d.FailedAt) > time.Minute {
		t.Fatalf("dead list %+v; want the archived event after %d tries, failed with the receiver's 503", dead, maxRetry+1)
	}
	if n := rcv.Tries(event); n != maxRetry+1 {
		t.Fatalf("the receiver saw %d tries; want %d", n, maxRetry+1)
	}

	rcv.Answer(func(webhook.Event, int) int { return http.StatusNoContent })
	if err := f.ins.RunTask(webhook.Queue(testAppID), event); err != nil {
		t.Fatal(err)
	}
	rcv.Wait(t, within(1), "given the re-run event", func(r *webhooktest.Receiver) bool { return r.Has(event) })
	if dead, err := webhook.DeadList(context.Background(), f.ins, webhook.Queue(testAppID), 1); err != nil || len(dead) != 0 {
		t.Fatalf("dead list after the re-run: %+v, %v; want empty", dead, err)
	}
}

// waitDead waits until the fixture's dead list is not empty: asynq archives
// the task after the handler's last answer.
func waitDead(t *testing.T, f *fixture, limit time.Duration) []webhook.Dead {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		dead, err := webhook.DeadList(context.Background(), f.ins, webhook.Queue(testAppID), 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) > 0 {
			return dead
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead event within %s", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A receiver nobody answers for fails the try with the transport's reason,
// and never with the URL, whose query may hold the receiver's token. A
// queue nothing was queued on has no dead list.
func TestFailuresKeepTheURLOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if dead, err := webhook.DeadList(context.Background(), f.ins, webhook.Queue(testAppID), 1); err != nil || dead != nil {
		t.Fatalf("dead list of an unused queue: %+v, %v", dead, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	f.serve(nil, "http://"+closed+"/hook?token=receiver-token")
	f.finish("order-nobody", record.Completed)
	if p := f.pass(f.relay(0, -1)); p.Queued != 1 { // no retry
		t.Fatalf("pass %+v", p)
	}
	d := waitDead(t, f, within(1))[0]
	if !strings.Contains(d.LastError, "connection refused") || strings.Contains(d.LastError, "receiver-token") || strings.Contains(d.LastError, "/hook") {
		t.Fatalf("last error %q; want the transport's reason without the URL", d.LastError)
	}
}
