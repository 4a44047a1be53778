package notification_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/logging"
	"wxnotify/internal/notification"
	"wxnotify/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// WeChat gives no ordering between its answer to a send and its
// subscribe_msg_sent_event push: the status shows WeChat's word whichever
// came first.
func TestWeChatResultShowsWhicheverArrivesFirst(t *testing.T) {
	t.Parallel()
	rdb := redistest.Lend(t).Client(t)
	q := notification.NewQueue(rdb, "wxappid0000000001", time.Hour, 3)
	ctx := t.Context()
	at := time.Date(2026, 11, 24, 7, 1, 0, 0, time.UTC)

	// "before": the push is recorded before the worker has even run.
	early, err := q.Enqueue(ctx, payload("push-first"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.RecordWeChatResult(ctx, "1988810812324364291", notification.WeChatResult{ErrorCode: 0, ErrorStatus: "success", At: at}); err != nil {
		t.Fatal(err)
	}
	late, err := q.Enqueue(ctx, payload("answer-first"))
	if err != nil {
		t.Fatal(err)
	}
	msgids := map[string]string{early.ID: "1988810812324364291", late.ID: "1988810812324364292"}
	deliver(t, rdb, msgids)
	// "after": the push comes once the notification has completed.
	if err := q.RecordWeChatResult(ctx, "1988810812324364292", notification.WeChatResult{ErrorCode: 10002, ErrorStatus: "failed:user refuse to accept the msg", At: at}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{early.ID: "success", late.ID: "failed:user refuse to accept the msg"} {
		st, err := q.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Result == nil || st.Result.MsgID != msgids[id] {
			t.Fatalf("%s: result %+v; want delivered %s", id, st.Result, msgids[id])
		}
		if st.WeChat == nil || st.WeChat.ErrorStatus != want || !st.WeChat.At.Equal(at) {
			t.Fatalf("%s: WeChat's status %+v; want %q at %s", id, st.WeChat, want, at)
		}
	}
}

func payload(dedupe string) notification.Payload {
	return notification.Payload{
		Template: "order_arrived", TemplateID: "T", UserID: "u-1", DedupeKey: dedupe,
		Data: map[string]string{"thing1": "x"},
	}
}

// deliver runs a real asynq server that completes each task as delivered
// with the msgid given for its id, and returns once all have completed.
func deliver(t *testing.T, rdb redis.UniversalClient, msgids map[string]string) {
	t.Helper()
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 2, TaskCheckInterval: 10 * time.Millisecond,
		Queues: map[string]int{notification.QueueName: 1},
		Logger: logging.Asynq{L: slog.New(slog.DiscardHandler)},
	})
	done := make(chan string, len(msgids))
	err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		b, _ := json.Marshal(notification.Result{Status: notification.Delivered, MsgID: msgids[id]})
		if _, err := task.ResultWriter().Write(b); err != nil {
			return err
		}
		done <- id
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	// Shutdown waits for the handlers' completions to be written.
	defer srv.Shutdown()
	// Pickup takes one TaskCheckInterval (10 ms); the deadline only bounds a
	// broken server, far above any scheduling delay of a busy machine.
	timeout := time.After(10 * time.Second)
	for range msgids {
		select {
		case <-done:
		case <-timeout:
			t.Fatal("asynq did not run the tasks")
		}
	}
}
