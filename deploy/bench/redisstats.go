package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// commandStats is INFO commandstats: calls per command ("evalsha", "hset",
// "config|resetstat"). Redis counts the commands a Lua script runs as well
// as the script call itself.
type commandStats map[string]int64

// resetStats zeroes Redis's statistics (CONFIG RESETSTAT), commandstats
// among them.
func resetStats(ctx context.Context, rdb redis.UniversalClient) error {
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		return fmt.Errorf("CONFIG RESETSTAT: %w", err)
	}
	return nil
}

// readCommandStats reads INFO commandstats, without the bench's own
// commands (INFO, CONFIG) and less the queue polls p made since the reset.
func readCommandStats(ctx context.Context, rdb redis.UniversalClient, p *queuePoller) (commandStats, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO commandstats: %w", err)
	}
	out := commandStats{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		if base, _, _ := strings.Cut(name, "|"); base == "info" || base == "config" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("INFO commandstats: %q: %w", line, err)
		}
		out[name] = n
	}
	if p != nil {
		for name, n := range p.issued {
			if out[name] -= n; out[name] <= 0 {
				delete(out, name)
			}
		}
	}
	return out, nil
}

// total is the sum of calls.
func (c commandStats) total() int64 {
	var t int64
	for _, n := range c {
		t += n
	}
	return t
}

// scripts is the calls of Lua scripts and functions.
func (c commandStats) scripts() int64 {
	return c["eval"] + c["evalsha"] + c["eval_ro"] + c["evalsha_ro"] + c["fcall"] + c["fcall_ro"]
}

// per divides every count by n.
func (c commandStats) per(n int) map[string]float64 {
	out := make(map[string]float64, len(c))
	for k, v := range c {
		out[k] = float64(v) / float64(max(1, n))
	}
	return out
}

// queueState is one asynq queue's task counts by state.
type queueState struct {
	pending, active, scheduled, retry, archived int64
}

// queuePoller reads an asynq queue's state straight from its keys and
// counts the commands it issued, so that readCommandStats can take them
// out of the parties' figures.
type queuePoller struct {
	rdb    redis.UniversalClient
	queue  string
	issued map[string]int64
}

func newQueuePoller(rdb redis.UniversalClient, queue string) *queuePoller {
	return &queuePoller{rdb: rdb, queue: queue, issued: map[string]int64{}}
}

// state reads the queue's counts in one pipeline of five commands.
func (p *queuePoller) state(ctx context.Context) (queueState, error) {
	k := "asynq:{" + p.queue + "}:"
	var s queueState
	cmds, err := p.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		pl.LLen(ctx, k+"pending")
		pl.LLen(ctx, k+"active")
		pl.ZCard(ctx, k+"scheduled")
		pl.ZCard(ctx, k+"retry")
		pl.ZCard(ctx, k+"archived")
		return nil
	})
	p.issued["llen"] += 2
	p.issued["zcard"] += 3
	if err != nil {
		return s, fmt.Errorf("queue %s: %w", p.queue, err)
	}
	vals := make([]int64, len(cmds))
	for i, c := range cmds {
		vals[i] = c.(*redis.IntCmd).Val()
	}
	s.pending, s.active, s.scheduled, s.retry, s.archived = vals[0], vals[1], vals[2], vals[3], vals[4]
	return s, nil
}

// waitFirstAttempts waits until every task of the queue has had its first
// attempt: none pending, active or scheduled, none archived, and exactly
// retries in the retry set (the naive peer's 43101 answers wait there for
// asynq's back-off; wxnotify's none).
func (p *queuePoller) waitFirstAttempts(ctx context.Context, retries int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		s, err := p.state(ctx)
		if err != nil {
			return err
		}
		if s.archived > 0 {
			return fmt.Errorf("queue %s: %d tasks archived", p.queue, s.archived)
		}
		if s.pending+s.active+s.scheduled == 0 && s.retry >= retries {
			if s.retry > retries {
				return fmt.Errorf("queue %s: %d tasks in the retry set; want %d", p.queue, s.retry, retries)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queue %s not done after %s: %+v", p.queue, limit, s)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
