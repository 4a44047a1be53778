package record

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
)

// IndexOrderCall files notification id under its WeChat Pay order (named
// by OrderName) for the retention, so that WeChat's trade events, which
// name the order only, reach its record.
func (s *Store) IndexOrderCall(id, order string) *redisconn.ScriptCall {
	return &redisconn.ScriptCall{Script: indexOrder, Keys: []string{s.keys.Order(order)}, Args: []any{id, redisconn.Seconds(s.retention)}}
}

// Trade is what a trade event says of a WeChat Pay order: its names, and
// the state WeChat's event puts it in.
type Trade struct {
	TransactionID, MchID, OutTradeNo string
	State                            int
	At                               time.Time
}

// ApplyTrade records a trade event's order state on every notification
// delivered through the order channel for that order; it reports how many
// it found.
func (s *Store) ApplyTrade(ctx context.Context, t Trade) (int, error) {
	var ids []string
	for _, name := range []string{OrderName(t.TransactionID, "", ""), OrderName("", t.MchID, t.OutTradeNo)} {
		if name == "t:" || name == "m::" {
			continue
		}
		found, err := s.rdb.HKeys(ctx, s.keys.Order(name)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, fmt.Errorf("find the notifications of order %s: %w", name, err)
		}
		ids = append(ids, found...)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	calls := make([]*redisconn.ScriptCall, len(ids))
	for i, id := range ids {
		calls[i] = s.OrderStateCall(id, t.State, t.At)
	}
	if err := redisconn.RunScripts(ctx, s.rdb, calls...); err != nil {
		return 0, fmt.Errorf("record order state %d: %w", t.State, err)
	}
	return len(ids), nil
}
