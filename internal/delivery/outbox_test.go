package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/hibiken/asynq"

	"wxnotify/internal/redistest"
	"wxnotify/internal/webhook"
	"wxnotify/internal/wechat"
)

// pokedOutbox is an app's real outbox that counts the pokes of its relay.
type pokedOutbox struct {
	*webhook.Outbox
	pokes atomic.Int64
}

func (o *pokedOutbox) Poke() { o.pokes.Add(1); o.Outbox.Poke() }

// With a webhook, the two final writes — completed and archived — put the
// notification in the outbox in the round trip of the record's write, and
// wake the relay; a retry, and a redelivery of a completed notification,
// do neither.
func TestFinalWritesPutTheNotificationInTheOutbox(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, false)
	ctx := context.Background()
	outbox := &pokedOutbox{Outbox: webhook.NewOutbox(f.rdb, "wxapp")}
	f.h.outbox = outbox
	key := webhook.NewKeys("wxapp").Outbox()
	listed := func(id string) bool { return f.rdb.ZScore(ctx, key, id).Err() == nil }
	f.bind("u1", 3)
	bad := fakeSender{err: &wechat.Error{Endpoint: wechat.EndpointSend, Code: 40003, Msg: "invalid openid"}}
	// Loads the scripts: a combination not seen yet costs a NOSCRIPT and an EVAL.
	if _, err := f.run("u1", "warm-up"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.runWith(bad, "u1", "warm-up-2", 0); !errors.Is(err, asynq.SkipRetry) {
		t.Fatal(err)
	}
	trips := redistest.Count(f.rdb)
	run := func(sender Sender, dedupe string, retried int) (string, int64, error) {
		before := trips.N()
		id, err := f.runWith(sender, "u1", dedupe, retried)
		return id, trips.N() - before, err
	}
	pokes := outbox.pokes.Load()
	delivered, n, err := run(fakeSender{}, "order-1", 0)
	if err != nil || !listed(delivered) || n != 2 || outbox.pokes.Load() != pokes+1 {
		t.Fatalf("delivered: %v, listed %v, %d round trips, %d pokes; want listed in the record's round trip (2 in all), one poke", err, listed(delivered), n, outbox.pokes.Load()-pokes)
	}
	busy := fakeSender{err: &wechat.Error{Endpoint: wechat.EndpointSend, Code: -1, Msg: "system busy"}}
	retried, _, err := run(busy, "order-2", 0)
	if err == nil || listed(retried) || outbox.pokes.Load() != pokes+1 {
		t.Fatalf("retried: %v, listed %v; want a retry, not listed, no poke", err, listed(retried))
	}
	archived, n, err := run(bad, "order-3", 0)
	if !errors.Is(err, asynq.SkipRetry) || !listed(archived) || n != 3 || outbox.pokes.Load() != pokes+2 {
		t.Fatalf("archived: %v, listed %v, %d round trips; want listed in the record's round trip (3 in all: begin, grant back, record), one poke", err, listed(archived), n)
	}
	exhausted, _, err := run(busy, "order-2", 5)
	if !errors.Is(err, asynq.SkipRetry) || !listed(exhausted) {
		t.Fatalf("retries used up: %v, listed %v; want archived and listed", err, listed(exhausted))
	}
	// The relay took the entry; a redelivery of the completed notification
	// writes nothing, and puts nothing back.
	f.rdb.ZRem(ctx, key, delivered)
	if _, _, err := run(fakeSender{}, "order-1", 0); err != nil || listed(delivered) {
		t.Fatalf("redelivered: %v, listed %v; want nothing written", err, listed(delivered))
	}
}
