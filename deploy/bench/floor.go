package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/logging"
)

// floor measures asynq alone: n no-op tasks enqueued first, then processed
// by `servers` servers with the worker's settings; it returns tasks/s.
func floor(ctx context.Context, rdb redis.UniversalClient, n, servers, concurrency int) (float64, error) {
	const queue = "bench-floor"
	client := asynq.NewClientFromRedisClient(rdb)
	for i := range n {
		if _, err := client.EnqueueContext(ctx, asynq.NewTask("noop", nil), asynq.Queue(queue), asynq.Retention(time.Minute)); err != nil {
			return 0, fmt.Errorf("floor: enqueue %d: %w", i, err)
		}
	}
	var done atomic.Int64
	finished := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error {
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	})
	start := time.Now()
	var srvs []*asynq.Server
	for range servers {
		s := asynq.NewServerFromRedisClient(rdb, asynq.Config{
			Concurrency: concurrency, Queues: map[string]int{queue: 1},
			TaskCheckInterval: 10 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
			Logger: logging.Asynq{L: quietLogger()}, LogLevel: asynq.ErrorLevel,
		})
		if err := s.Start(mux); err != nil {
			return 0, err
		}
		srvs = append(srvs, s)
	}
	defer func() {
		for _, s := range srvs {
			s.Shutdown()
		}
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("floor: %d of %d tasks after 5 minutes", done.Load(), n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
