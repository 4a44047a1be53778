package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
)

// Keys names the Redis keys of one app's webhook: wxnotify:<appid>:webhook:…
// are this package's (asynq's own keys hold the tasks).
type Keys struct{ appID string }

// NewKeys returns the key names for appid.
func NewKeys(appID string) Keys { return Keys{appID: appID} }

// Outbox is the sorted set of the ids of notifications whose event is to be
// queued, scored by when each is due (Unix milliseconds, Redis's clock):
// now when it is added, a lease ahead while a relay works on it. One key per
// app, so a Cluster keeps it on one slot — and every relay of the app on
// that one shard: an app's events are bounded by one shard, as its queue is.
func (k Keys) Outbox() string { return "wxnotify:" + k.appID + ":webhook:outbox" }

// The outbox's scripts read the time from Redis, so that the workers'
// clocks need not agree on when a lease runs out.
const luaNow = `local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// addEntry puts a notification in the outbox, due now. An entry a relay
// holds is due again at once: the notification reached another final
// state (an archived one re-run and completed) while it was being relayed,
// and the relay's ack, which removes only its own lease, leaves it.
// KEYS: outbox. ARGV: notification id.
var addEntry = redisconn.NewScript(luaNow + `
redis.call("ZADD", KEYS[1], now, ARGV[1])
return 1`)

// claimEntries leases the due entries to the caller: each is due again a
// lease from now, when a relay that died holding it has let it go.
// KEYS: outbox. ARGV: most entries, lease (ms).
// Returns {lease's end, id…}: the lease's end names the lease in ackEntries.
var claimEntries = redisconn.NewScript(luaNow + `
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, tonumber(ARGV[1]))
local lease = now + tonumber(ARGV[2])
local out = {string.format("%.0f", lease)}
for _, id in ipairs(ids) do
	redis.call("ZADD", KEYS[1], lease, id)
	out[#out + 1] = id
end
return out`)

// ackEntries removes the entries a relay is done with, those still under
// its lease: an entry added again since (due now) or taken by another relay
// after the lease ran out (a later lease) is not the caller's to remove.
// KEYS: outbox. ARGV: lease's end, id…. Returns how many it removed.
var ackEntries = redisconn.NewScript(`
local n = 0
for i = 2, #ARGV do
	local score = redis.call("ZSCORE", KEYS[1], ARGV[i])
	if score and tonumber(score) == tonumber(ARGV[1]) then
		redis.call("ZREM", KEYS[1], ARGV[i])
		n = n + 1
	end
end
return n`)

// Outbox is one app's outbox, and the poke that wakes its relay in this
// process.
type Outbox struct {
	rdb  redis.UniversalClient
	keys Keys
	// appID names the app's webhook queue.
	appID string
	wake  chan struct{}
}

// NewOutbox is app appid's outbox.
func NewOutbox(rdb redis.UniversalClient, appID string) *Outbox {
	return &Outbox{rdb: rdb, keys: NewKeys(appID), appID: appID, wake: make(chan struct{}, 1)}
}

// AddCall puts notification id in the outbox, as a script call for the
// RunScripts of the record's final write (package delivery): on one Redis
// node in the same script, after the record, so that both are written or
// neither. On a Cluster the two keys live on different slots, and
// RunScripts sends the calls side by side in one pipeline: either may be
// written without the other. An entry without its final write is harmless —
// the relay finds the record not final and leaves the entry until it is
// (relay.go) — but a final write whose entry failed has no event: the
// limit of a Cluster, logged by the worker as an incomplete write.
func (o *Outbox) AddCall(id string) *redisconn.ScriptCall {
	return &redisconn.ScriptCall{Script: addEntry, Keys: []string{o.keys.Outbox()}, Args: []any{id}}
}

// Poke wakes this process's relay of the app after an entry was added, so
// that the event is queued at once rather than at the relay's next tick.
// It never blocks: a relay already awake takes the entry in its pass.
func (o *Outbox) Poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// lease is a claim on entries: when it ends (Redis's clock, ms), which
// names it, and the ids.
type lease struct {
	end string
	ids []string
}

// claim leases at most most due entries for d.
func (o *Outbox) claim(ctx context.Context, most int, d time.Duration) (lease, error) {
	v, err := claimEntries.Run(ctx, o.rdb, []string{o.keys.Outbox()}, most, d.Milliseconds()).StringSlice()
	if err != nil {
		return lease{}, fmt.Errorf("claim webhook outbox: %w", err)
	}
	if len(v) == 0 {
		return lease{}, errors.New("claim webhook outbox: an empty answer")
	}
	return lease{end: v[0], ids: v[1:]}, nil
}

// ack removes ids, relayed or dropped, from the outbox if l still holds them.
func (o *Outbox) ack(ctx context.Context, l lease, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, 1+len(ids))
	args = append(args, l.end)
	for _, id := range ids {
		args = append(args, id)
	}
	if err := ackEntries.Run(ctx, o.rdb, []string{o.keys.Outbox()}, args...).Err(); err != nil {
		return fmt.Errorf("ack webhook outbox: %w", err)
	}
	return nil
}
