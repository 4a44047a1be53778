package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/sandbox"
)

// durability is what each AOF fsync policy costs the pipeline: the median
// over alternating rounds of notifications delivered a second, and of
// posts accepted a second (the api's writes wait for the fsync too).
type durability struct {
	Rounds     int                `json:"rounds_per_policy"`
	PerRound   int                `json:"notifications_per_round"`
	Delivered  map[string]float64 `json:"delivered_per_s"`
	Accepted   map[string]float64 `json:"accepted_per_s"`
	AlwaysCost float64            `json:"always_to_everysec"`
}

var policies = []string{"everysec", "always"}

// durabilityRun turns AOF on in the bench's own redis-server and runs
// rounds of the pipeline of n notifications each, switching appendfsync
// between everysec and always (CONFIG SET) every round, starting each round
// pair with the other policy so that drift on a shared machine spreads
// evenly. AOF is off again afterwards.
func durabilityRun(ctx context.Context, rdb *redis.Client, ins *asynq.Inspector, sb *sandbox.Sandbox, appID, tmpl, api, key string, n, conns, rounds int) (durability, error) {
	d := durability{Rounds: rounds, PerRound: n, Delivered: map[string]float64{}, Accepted: map[string]float64{}}
	if err := setAOF(ctx, rdb, "yes"); err != nil {
		return d, err
	}
	defer func() { _ = setAOF(context.WithoutCancel(ctx), rdb, "no") }()
	delivered, accepted := map[string][]float64{}, map[string][]float64{}
	for r := range rounds {
		order := slices.Clone(policies)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, policy := range order {
			if err := rdb.ConfigSet(ctx, "appendfsync", policy).Err(); err != nil {
				return d, fmt.Errorf("CONFIG SET appendfsync %s: %w", policy, err)
			}
			prefix := fmt.Sprintf("dur-%s-%d", policy, r)
			if err := seedUsers(ctx, rdb, sb, appID, tmpl, prefix, n, n); err != nil {
				return d, err
			}
			perSec, ingest, err := pipelineRun(ctx, ins, api, key, prefix, n, conns)
			if err != nil {
				return d, fmt.Errorf("appendfsync %s: %w", policy, err)
			}
			delivered[policy] = append(delivered[policy], perSec)
			accepted[policy] = append(accepted[policy], ingest)
		}
	}
	for _, p := range policies {
		d.Delivered[p], d.Accepted[p] = median(delivered[p]), median(accepted[p])
	}
	d.AlwaysCost = d.Delivered["always"] / d.Delivered["everysec"]
	return d, nil
}

// setAOF turns appendonly on or off and waits for the rewrite that turning
// it on starts.
func setAOF(ctx context.Context, rdb *redis.Client, on string) error {
	if err := rdb.ConfigSet(ctx, "appendonly", on).Err(); err != nil {
		return fmt.Errorf("CONFIG SET appendonly %s: %w", on, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		info, err := rdb.Info(ctx, "persistence").Result()
		if err != nil {
			return err
		}
		if strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the AOF rewrite did not finish within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
