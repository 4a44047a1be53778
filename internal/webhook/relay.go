package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
)

// Records reads notifications' records; *record.Store is one.
type Records interface {
	Status(ctx context.Context, id string) (record.Status, error)
}

// The relay's defaults.
const (
	// DefaultLease is how long a relay holds the entries it claimed. It
	// bounds how late an event is when the relay that claimed it died: its
	// entries are due again to any relay a lease after the claim.
	DefaultLease = time.Minute
	// DefaultTick is how often an idle relay looks at the outbox: for the
	// entries other workers added (their own relay is poked, but it may
	// have died), and for leases run out. A poke wakes it at once.
	DefaultTick = time.Second
	// batch is how many entries one claim takes.
	batch = 100
	// taskTimeout bounds one delivery try in asynq, above the request's
	// own timeout (requestTimeout).
	taskTimeout = 30 * time.Second
)

// RelayConfig is what a relay needs besides its outbox.
type RelayConfig struct {
	// App is the app's name, which each event carries.
	App string
	// Records are the app's records.
	Records Records
	// MaxRetry is each event's retries (MaxRetry if 0).
	MaxRetry int
	// Lease and Tick default to DefaultLease and DefaultTick.
	Lease, Tick time.Duration
	Logger      *slog.Logger
}

// Relay moves one app's events from its outbox to its webhook queue.
type Relay struct {
	outbox *Outbox
	client *asynq.Client
	queue  string
	cfg    RelayConfig
}

// NewRelay is the relay of outbox's app, queueing with the process's
// go-redis client.
func NewRelay(rdb redis.UniversalClient, outbox *Outbox, c RelayConfig) *Relay {
	if c.MaxRetry == 0 {
		c.MaxRetry = MaxRetry
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Tick <= 0 {
		c.Tick = DefaultTick
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{outbox: outbox, client: asynq.NewClientFromRedisClient(rdb), queue: Queue(outbox.appID), cfg: c}
}

// retention is how long asynq keeps a delivered event's task, and so its
// id: a relay that takes over the entry of a relay that died after queueing
// the event but before its ack — at least a lease after that relay's claim —
// then finds the id taken and queues nothing. Two leases cover a takeover
// soon after the lease ran out; a relay later than that (every worker down
// for minutes) queues the event again, and the receiver dedupes it. Longer
// would cost memory for every event: about 1 KB each in asynq.
func (r *Relay) retention() time.Duration { return 2 * r.cfg.Lease }

// Run relays until ctx ends: at once, then whenever the outbox is poked
// and at every tick.
func (r *Relay) Run(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	for {
		r.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.outbox.wake:
		case <-tick.C:
		}
	}
}

// drain makes passes until one finds fewer due entries than it could take,
// or fails: what it leaves comes back at the next tick or with its lease.
func (r *Relay) drain(ctx context.Context) {
	for ctx.Err() == nil {
		p, err := r.pass(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Logger.Warn("webhook relay: pass cut short; its entries come back when their lease ends",
					slog.Duration("lease", r.cfg.Lease), slog.Any("error", err))
			}
			return
		}
		if p.Claimed < batch {
			return
		}
	}
}

// passResult counts what a pass did with the entries it claimed.
type passResult struct {
	Claimed int
	// Queued: a task was queued for the event. Already: its id was taken
	// (the event is queued, being delivered, delivered within the
	// retention, or dead). Waiting: the record is not final yet, and the
	// entry stays until its lease ends. Dropped: no record.
	Queued, Already, Waiting, Dropped int
}

// verdict is what became of one entry.
type verdict int

const (
	queued verdict = iota
	already
	waiting
	dropped
)

// pass claims due entries and relays each; it acks those it is done with,
// so that a failure (Redis gone, a record that does not read) leaves only
// the entries it hit to come back with the lease.
func (r *Relay) pass(ctx context.Context) (passResult, error) {
	// A pass ends within half its lease: its ack must land before its
	// entries are due to other relays again.
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Lease/2)
	defer cancel()
	l, err := r.outbox.claim(ctx, batch, r.cfg.Lease)
	if err != nil {
		return passResult{}, err
	}
	res := passResult{Claimed: len(l.ids)}
	var done []string
	var failed []error
	for _, id := range l.ids {
		v, err := r.relay(ctx, id)
		if err != nil {
			// The entry stays leased and comes back; the others go on,
			// unless the pass is out of time (Redis away past it).
			failed = append(failed, fmt.Errorf("notification %s: %w", id, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		switch v {
		case queued:
			res.Queued++
		case already:
			res.Already++
		case waiting:
			res.Waiting++
			continue
		case dropped:
			res.Dropped++
		}
		done = append(done, id)
	}
	// What was queued is acked even when the pass was cut short or the
	// worker is stopping: the rest of the lease is the ack's.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Lease/4)
	defer cancel()
	if len(failed) > 1 {
		failed = []error{fmt.Errorf("%w (and %d more)", failed[0], len(failed)-1)}
	}
	return res, errors.Join(append(failed, r.outbox.ack(actx, l, done))...)
}

// relay queues the event of notification id, if its record is final.
func (r *Relay) relay(ctx context.Context, id string) (verdict, error) {
	st, err := r.cfg.Records.Status(ctx, id)
	switch {
	case errors.Is(err, record.ErrNotFound):
		// Past its retention (a week) or lost with a Redis that kept no
		// AOF: there is nothing to tell.
		r.cfg.Logger.Warn("webhook event dropped: the notification has no record", slog.String("notification", id))
		return dropped, nil
	case err != nil:
		return 0, err
	case !st.State.Finished():
		// On a Cluster the entry may come before its record's final write
		// (Outbox.AddCall); or the notification was re-run since. Its
		// final write adds it again, due at once; until then the lease
		// brings it back.
		return waiting, nil
	}
	ev := eventOf(r.cfg.App, st)
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("webhook event %s: %w", ev.ID, err)
	}
	_, err = r.client.EnqueueContext(ctx, asynq.NewTask(TaskType, body), asynq.TaskID(ev.ID), asynq.Queue(r.queue),
		asynq.MaxRetry(r.cfg.MaxRetry), asynq.Timeout(taskTimeout), asynq.Retention(r.retention()))
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return already, nil
	case err != nil:
		return 0, fmt.Errorf("queue webhook event %s: %w", ev.ID, err)
	}
	r.cfg.Logger.Debug("webhook event queued", slog.String("event_id", ev.ID), slog.String("notification", id))
	return queued, nil
}
