package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/task"
	"wxnotify/internal/webhook"
)

// A notification's final write leaves its event to the relay, which queues
// it once under the event's id with the notification's final state, and
// empties the outbox.
func TestEventIsRelayedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.relay(0, 0)
	delivered := f.finish("order-1", record.Completed)
	archived := f.finish("order-2", record.Archived)
	if p := f.pass(r); p.Claimed != 2 || p.Queued != 2 {
		t.Fatalf("first pass %+v; want both events queued", p)
	}
	if p := f.pass(r); p.Claimed != 0 || f.pending() != 0 {
		t.Fatalf("second pass %+v, outbox holds %d; want nothing left", p, f.pending())
	}
	for _, want := range []struct {
		id, typ string
		state   record.State
	}{{delivered, webhook.TypeCompleted, record.Completed}, {archived, webhook.TypeArchived, record.Archived}} {
		info, err := f.ins.GetTaskInfo(webhook.Queue(testAppID), webhook.EventID(want.id, want.state))
		if err != nil {
			t.Fatal(err)
		}
		if info.Type != webhook.TaskType || info.MaxRetry != webhook.MaxRetry || info.Retention != 2*webhook.DefaultLease || info.State != asynq.TaskStatePending {
			t.Errorf("task %+v", info)
		}
		if strings.Contains(string(info.Payload), "o-user-openid") {
			t.Errorf("the event names the user's openid: %s", info.Payload)
		}
		var ev webhook.Event
		if err := json.Unmarshal(info.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		st, err := f.records.Status(context.Background(), want.id)
		if err != nil {
			t.Fatal(err)
		}
		n := ev.Notification
		if ev.ID != want.id[:len("order_arrived")]+"."+want.id[len("order_arrived-"):]+"."+string(want.state) || ev.Type != want.typ || ev.App != testApp ||
			n.ID != want.id || n.Template != "order_arrived" || n.State != want.state || n.Attempts != 1 ||
			!n.CompletedAt.Equal(st.CompletedAt) || !ev.OccurredAt.Equal(st.CompletedAt) {
			t.Errorf("event %+v; record %+v", ev, st)
		}
		switch want.state {
		case record.Completed:
			if n.Result == nil || n.Result.Status != record.Delivered || n.Result.MsgID != "2046913852211527681" || n.ErrCode != 0 || n.DedupeKey != "order-1" {
				t.Errorf("delivered event %+v", n)
			}
		case record.Archived:
			if n.Result != nil || n.ErrCode != 40003 || n.LastError != "invalid openid" || n.DedupeKey != "order-2" {
				t.Errorf("archived event %+v", n)
			}
		}
	}
}

// An entry whose record is not final — on a Cluster the entry may land
// before the record's write; or the notification was re-run — waits under
// its lease; its final write makes it due again at once.
func TestEntryWaitsForTheFinalWrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.relay(0, 0)
	ctx := context.Background()
	id := task.ID("order_arrived", "order-early")
	n := record.New{User: "u1", Template: "order_arrived", DedupeKey: "order-early", Created: time.Now(), MaxRetry: 5}
	if _, _, err := f.records.Create(ctx, id, n); err != nil {
		t.Fatal(err)
	}
	if err := redisconn.RunScripts(ctx, f.rdb, f.outbox.AddCall(id)); err != nil {
		t.Fatal(err)
	}
	if p := f.pass(r); p.Waiting != 1 || p.Queued != 0 || f.pending() != 1 {
		t.Fatalf("pass over a pending record: %+v, outbox %d; want it waiting, kept", p, f.pending())
	}
	if p := f.pass(r); p.Claimed != 0 {
		t.Fatalf("pass within the lease: %+v; want nothing due", p)
	}
	f.finish("order-early", record.Completed)
	if p := f.pass(r); p.Queued != 1 || f.pending() != 0 {
		t.Fatalf("pass after the final write: %+v, outbox %d; want the event queued", p, f.pending())
	}
}

// A relay's ack removes only what it still holds: an entry added again
// while it worked (the notification reached another final state) stays.
func TestAckLeavesAnEntryAddedAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id := f.finish("order-again", record.Archived)
	l, err := f.outbox.Claim(ctx, webhook.Batch, time.Minute)
	if err != nil || len(l.IDs()) != 1 {
		t.Fatalf("claim %+v, %v", l, err)
	}
	f.finish("order-again", record.Completed) // re-run from the dashboard, completed
	if err := f.outbox.Ack(ctx, l, l.IDs()); err != nil {
		t.Fatal(err)
	}
	if f.pending() != 1 {
		t.Fatal("the ack of the archived event removed the entry of the completed one")
	}
	if p := f.pass(f.relay(0, 0)); p.Queued != 1 {
		t.Fatalf("pass %+v; want the completed event queued", p)
	}
	if _, err := f.ins.GetTaskInfo(webhook.Queue(testAppID), webhook.EventID(id, record.Completed)); err != nil {
		t.Fatalf("the completed event: %v", err)
	}
}

// A relay that claimed entries and died before queueing their events
// leaves them leased: no relay takes them before the lease ends, and the
// next pass after it does.
func TestDeadRelaysEntriesComeBackAfterTheLease(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const lease = time.Second
	id := f.finish("order-orphan", record.Completed)
	if _, err := f.outbox.Claim(context.Background(), webhook.Batch, lease); err != nil { // and dies
		t.Fatal(err)
	}
	claimed := time.Now()
	r := f.relay(lease, 0)
	if p := f.pass(r); p.Claimed != 0 {
		t.Fatalf("a pass within the lease took %+v", p)
	}
	poll := time.NewTicker(lease / 20)
	defer poll.Stop()
	for {
		p := f.pass(r)
		if p.Queued == 1 {
			break
		}
		if p.Claimed != 0 || time.Since(claimed) > lease+5*time.Second {
			t.Fatalf("pass %+v, %s after the claim; want the event queued once the lease of %s ended", p, time.Since(claimed), lease)
		}
		<-poll.C
	}
	// Redis's clock started the lease just before claimed; a few ms of it
	// may pass before the local clock's.
	if took := time.Since(claimed); took < lease-50*time.Millisecond {
		t.Fatalf("the entry came back %s after the claim, before its lease of %s ended", took, lease)
	}
	if _, err := f.ins.GetTaskInfo(webhook.Queue(testAppID), webhook.EventID(id, record.Completed)); err != nil {
		t.Fatal(err)
	}
}

// Two relays at once — every worker runs one per app — queue each event
// once; a relay that takes over the entries of one that queued their events
// and died before its ack finds them queued and queues nothing.
func TestTwoRelaysQueueEachEventOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 250 // more than a pass takes
	for i := range n {
		f.finish(fmt.Sprintf("order-%d", i), record.Completed)
	}
	var mu sync.Mutex
	var total webhook.PassResult
	var wg sync.WaitGroup
	for range 2 {
		r := f.relay(0, 0)
		wg.Go(func() {
			for {
				p, err := r.Pass(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total.Claimed += p.Claimed
				total.Queued += p.Queued
				total.Already += p.Already
				mu.Unlock()
				if p.Claimed == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	info, err := f.ins.GetQueueInfo(webhook.Queue(testAppID))
	if err != nil {
		t.Fatal(err)
	}
	if total.Claimed != n || total.Queued != n || total.Already != 0 || info.Pending != n || f.pending() != 0 {
		t.Fatalf("two relays: %+v, queue holds %d; want %d claimed and queued once each", total, info.Pending, n)
	}

	// A relay queues the events of what it claimed, and dies before its ack.
	const lease = time.Second
	var ids []string
	for i := range 5 {
		ids = append(ids, f.finish("order-taken-over-"+string(rune('a'+i)), record.Archived))
	}
	dying := f.relay(lease, 0)
	l, err := f.outbox.Claim(context.Background(), webhook.Batch, lease)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range l.IDs() {
		if v, err := dying.RelayOne(context.Background(), id); err != nil || v != webhook.Queued {
			t.Fatalf("relay %s: %v, %v", id, v, err)
		}
	}
	r := f.relay(lease, 0)
	deadline := time.Now().Add(lease + 5*time.Second)
	poll := time.NewTicker(lease / 10)
	defer poll.Stop()
	var p webhook.PassResult
	for p = f.pass(r); p.Claimed == 0 && time.Now().Before(deadline); p = f.pass(r) {
		<-poll.C
	}
	if p.Claimed != len(ids) || p.Already != len(ids) || p.Queued != 0 || f.pending() != 0 {
		t.Fatalf("the takeover's pass %+v, outbox %d; want the %d events found queued, none queued again", p, f.pending(), len(ids))
	}
	if info, _ := f.ins.GetQueueInfo(webhook.Queue(testAppID)); info.Pending != n+len(ids) {
		t.Fatalf("queue holds %d; want %d", info.Pending, n+len(ids))
	}
}

// A record that does not read holds back its own event only: the pass
// says so, queues the others, and the entry comes back with its lease.
func TestAnUnreadableRecordHoldsBackOnlyItsEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	bad := f.finish("order-garbled", record.Completed)
	if err := f.rdb.Set(ctx, record.NewKeys(testAppID).Record(bad), "not a record", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	good := f.finish("order-fine", record.Completed)
	p, err := f.relay(0, 0).Pass(ctx)
	if err == nil || !strings.Contains(err.Error(), bad) || p.Claimed != 2 || p.Queued != 1 || f.pending() != 1 {
		t.Fatalf("pass %+v, %v, outbox %d; want the good event queued, the bad one named and left", p, err, f.pending())
	}
	if _, err := f.ins.GetTaskInfo(webhook.Queue(testAppID), webhook.EventID(good, record.Completed)); err != nil {
		t.Fatal(err)
	}
}
