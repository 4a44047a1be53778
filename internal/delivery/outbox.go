package delivery

import "wxnotify/internal/redisconn"

// Outbox is where a notification that reached a final state — completed,
// or archived — is put for the order service's webhook; *webhook.Outbox is
// one. It is written with the record's final write, so that the record
// cannot say final without the webhook knowing.
type Outbox interface {
	// AddCall puts notification id in the outbox, as a call for the
	// RunScripts of the record's final write.
	AddCall(id string) *redisconn.ScriptCall
	// Poke wakes this worker's relay of the outbox.
	Poke()
}

// finalWrite is the record's final write of notification id, then with a
// webhook its outbox entry, for one RunScripts: on one Redis node one
// script, the record first, so that both are written or neither; on a
// Cluster side by side in one pipeline (webhook.Outbox.AddCall says what
// that leaves).
func (h *Handler) finalWrite(id string, write *redisconn.ScriptCall) []*redisconn.ScriptCall {
	if h.outbox == nil {
		return []*redisconn.ScriptCall{write}
	}
	return []*redisconn.ScriptCall{write, h.outbox.AddCall(id)}
}

// told wakes this worker's relay after a final write, so that the event is
// queued at once rather than at the relay's next tick.
func (h *Handler) told() {
	if h.outbox != nil {
		h.outbox.Poke()
	}
}
