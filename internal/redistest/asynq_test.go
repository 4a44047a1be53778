package redistest_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"wxnotify/internal/logging"
	"wxnotify/internal/redistest"
)

// asynq keeps working on a lent database other than 0, sharing one go-redis
// client between its client and server as the programs will.
func TestAsynqRunsOnALentDatabase(t *testing.T) {
	t.Parallel()
	db := redistest.Lend(t)
	rdb := db.Client(t)

	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("ping", []byte("42"))); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       1,
		TaskCheckInterval: 10 * time.Millisecond,
		Logger:            logging.Asynq{L: slog.New(slog.DiscardHandler)},
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("ping", func(_ context.Context, task *asynq.Task) error {
		got <- string(task.Payload())
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	select {
	case p := <-got:
		if p != "42" {
			t.Fatalf("payload %q; want 42", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("asynq did not process the task on database %d", db.Index)
	}
}
