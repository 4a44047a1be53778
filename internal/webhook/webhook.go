// Package webhook tells the order service how each notification ended: an
// event per final state, signed with the app's secret and POSTed to the
// app's URL at least once, retried for more than a day, and kept in a dead
// list for the console when the retries run out.
//
// An event goes three legs, each of which survives a worker or Redis fault:
//
//  1. The outbox (outbox.go). The worker's final write of a record — the
//     notification completed or archived — adds the notification's id to
//     the app's outbox in the same RunScripts call: on one Redis node, in
//     the same script, so that the record cannot say "final" without the
//     outbox holding the id. Nothing is lost between the record and the
//     webhook's task. (On a Cluster the two are side by side in one
//     pipeline: Outbox.AddCall says what that leaves.)
//  2. The relay (relay.go), a goroutine per app in every worker, leases due
//     ids, reads each record, builds the event and queues an asynq task
//     whose id is the event's: a relay that dies leaves its lease to run out
//     and another relay takes the ids again; the task id keeps the event from
//     being queued twice while asynq holds it.
//  3. The delivery (deliver.go), an asynq server of its own in the worker
//     with its own slots, POSTs the event until the receiver answers 2xx,
//     on a back-off that spans more than a day (MaxRetry); then asynq
//     archives the task, and the archived set of the app's webhook queue is
//     the dead list (dead.go).
//
// At least once: a receiver sees an event again when a relay or a worker
// dies between sending and recording that it sent. It dedupes by the
// event's id, which is derived from the notification and its final state.
package webhook

import (
	"time"

	"wxnotify/internal/record"
	"wxnotify/internal/task"
)

// TaskType is the asynq task type of a webhook event.
const TaskType = "webhook:deliver"

// Queue is the asynq queue of app appid's webhook events. It is named by
// the appid, as every key of the app is, so that the api's console finds
// the dead list without reading the worker's webhook settings.
func Queue(appID string) string { return "webhooks." + appID }

// The event types: the two final states of a notification.
const (
	TypeCompleted = "notification.completed"
	TypeArchived  = "notification.archived"
)

// Event is what the receiver gets: one notification that reached a final
// state. It names the notification as the order service posted it (the
// template and the dedupe key) and carries no user id and no openid: the
// order service knows whom it notified, and an openid is not to leave
// wxnotify.
type Event struct {
	// ID is stable: the same notification in the same final state is the
	// same event, however often it is sent (EventID).
	ID           string       `json:"event_id"`
	Type         string       `json:"type"`
	App          string       `json:"app"`
	Notification Notification `json:"notification"`
	// OccurredAt is when the notification reached its final state.
	OccurredAt time.Time `json:"occurred_at"`
}

// Notification is the notification as GET /v1/notifications/{id} shows it,
// cut to what tells how it ended.
type Notification struct {
	ID        string         `json:"id"`
	Template  string         `json:"template"`
	DedupeKey string         `json:"dedupe_key"`
	State     record.State   `json:"state"`
	Result    *record.Result `json:"result,omitempty"`
	LastError string         `json:"last_error,omitempty"`
	// ErrCode is WeChat's errcode of the last attempt (0: none).
	ErrCode     int       `json:"errcode,omitempty"`
	Attempts    int       `json:"attempts"`
	CompletedAt time.Time `json:"completed_at"`
}

// EventID is the id of notification id's event for reaching state: the
// notification's asynq task id (no dash: asynqmon shows an id up to its
// first dash) and the state, "order_arrived.3f2a….completed". A
// notification has at most two events: archived, and completed after an
// archived notification was re-run. Archived twice (re-run and archived
// again) is one event: the receiver learns nothing new from the second.
func EventID(id string, state record.State) string { return task.TaskID(id) + "." + string(state) }

// eventOf is the event of app's notification st, which is in a final state.
func eventOf(app string, st record.Status) Event {
	typ := TypeCompleted
	if st.State == record.Archived {
		typ = TypeArchived
	}
	n := Notification{
		ID: st.ID, Template: st.Template, DedupeKey: st.DedupeKey, State: st.State, Result: st.Result,
		LastError: st.LastError, Attempts: st.Attempts, CompletedAt: st.CompletedAt,
	}
	if len(st.History) > 0 {
		n.ErrCode = st.History[len(st.History)-1].ErrCode
	}
	return Event{ID: EventID(st.ID, st.State), Type: typ, App: app, Notification: n, OccurredAt: st.CompletedAt}
}
