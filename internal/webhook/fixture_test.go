package webhook_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
	"wxnotify/internal/task"
	"wxnotify/internal/webhook"
	"wxnotify/internal/webhook/webhooktest"
)

const testApp, testAppID = "shop", "wx0123456789abcdef"

// fixture is one app's records, outbox and webhook queue on a Redis
// database of the test's own.
type fixture struct {
	t       *testing.T
	rdb     *redis.Client
	records *record.Store
	outbox  *webhook.Outbox
	ins     *asynq.Inspector
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb := redistest.New(t)
	return &fixture{t: t, rdb: rdb, records: record.NewStore(rdb, testAppID, time.Hour), outbox: webhook.NewOutbox(rdb, testAppID),
		ins: asynq.NewInspectorFromRedisClient(rdb)}
}

// relay is a relay of the fixture's outbox with lease (DefaultLease if 0)
// and maxRetry (MaxRetry if 0).
func (f *fixture) relay(lease time.Duration, maxRetry int) *webhook.Relay {
	return webhook.NewRelay(f.rdb, f.outbox, webhook.RelayConfig{App: testApp, Records: f.records, Lease: lease, MaxRetry: maxRetry,
		Logger: slog.New(slog.DiscardHandler)})
}

// finish ends notification dedupe in state, as the worker's final write
// does: the record and the outbox entry in one RunScripts. It returns the
// notification's id.
func (f *fixture) finish(dedupe string, state record.State) string {
	f.t.Helper()
	id := task.ID("order_arrived", dedupe)
	n := record.New{User: "o-user-openid-00000000000000000", Template: "order_arrived", DedupeKey: dedupe, Created: time.Now(), MaxRetry: 5}
	res, step := record.Result{Status: record.Delivered, MsgID: "2046913852211527681"}, record.Step{Outcome: "delivered"}
	if state == record.Archived {
		res, step = record.Result{}, record.Step{Outcome: "archived_permanent", ErrCode: 40003, Error: "invalid openid"}
	}
	if err := redisconn.RunScripts(context.Background(), f.rdb, f.records.FinishCall(id, n, state, res, step), f.outbox.AddCall(id)); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// pending is how many entries the outbox holds.
func (f *fixture) pending() int64 {
	f.t.Helper()
	return f.rdb.ZCard(context.Background(), webhook.NewKeys(testAppID).Outbox()).Val()
}

// pass makes one pass of r and fails the test on an error.
func (f *fixture) pass(r *webhook.Relay) webhook.PassResult {
	f.t.Helper()
	p, err := r.Pass(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// serve delivers the fixture's webhook queue to receiver with a fast
// schedule (tries 20–96 ms apart), until the test ends.
func (f *fixture) serve(receiver *webhooktest.Receiver, url string) {
	f.t.Helper()
	if receiver != nil {
		url = receiver.URL
	}
	srv := webhook.NewServer(f.rdb, webhook.ServerOptions{
		Endpoints:   map[string]webhook.Endpoint{webhook.Queue(testAppID): {App: testApp, URL: url, Secret: testSecret}},
		Concurrency: 2, Schedule: fastSchedule, DelayedTaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler), LogLevel: asynq.FatalLevel,
	})
	if err := srv.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(srv.Shutdown)
}

var fastSchedule = webhook.Schedule{Base: 20 * time.Millisecond, Cap: 80 * time.Millisecond}

// within is how long tries of an event take to reach the receiver on
// fastSchedule: each waits its delay (at most 1.2 × the cap), the delayed
// check (20 ms) and the server's idle pickup; the rest
// is room for a 2-core machine busy with other tests.
func within(tries int) time.Duration {
	return time.Duration(tries)*(fastSchedule.Cap*6/5+20*time.Millisecond+webhook.TaskCheckInterval) + 5*time.Second
}
