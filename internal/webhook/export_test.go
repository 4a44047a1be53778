package webhook

import (
	"context"
	"time"
)

// The tests are package webhook_test's, so that they can use webhooktest's
// receiver, which imports this package. These are the internals they reach.

type PassResult = passResult

// Pass is one pass of the relay.
func (r *Relay) Pass(ctx context.Context) (PassResult, error) { return r.pass(ctx) }

// RelayOne queues notification id's event as a pass does, without the
// claim and the ack.
func (r *Relay) RelayOne(ctx context.Context, id string) (verdict, error) { return r.relay(ctx, id) }

// Queued is RelayOne's verdict for an event it queued.
const Queued = queued

// Batch is how many entries a pass takes at most.
const Batch = batch

// TaskCheckInterval is the webhook server's idle pickup.
const TaskCheckInterval = taskCheckInterval

// Lease is a claim on outbox entries.
type Lease = lease

// IDs are the entries the lease holds.
func (l lease) IDs() []string { return l.ids }

// Claim leases at most most due entries for d, as a relay's pass does.
func (o *Outbox) Claim(ctx context.Context, most int, d time.Duration) (Lease, error) {
	return o.claim(ctx, most, d)
}

// Ack removes ids from the outbox if l still holds them.
func (o *Outbox) Ack(ctx context.Context, l Lease, ids []string) error { return o.ack(ctx, l, ids) }

// VerifyAt is Verify at now.
var VerifyAt = verify
