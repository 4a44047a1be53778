// Package webhooktest is an order service's webhook endpoint on a test
// server: it verifies each request as a receiver should (webhook.Verify),
// answers as the test tells it, and dedupes the events it accepted by their
// id, so that a test can hold wxnotify to "each event once" while counting
// every try that reached it.
package webhooktest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/webhook"
)

// Tolerance is the receiver's allowance for the sender's clock.
const Tolerance = 5 * time.Minute

// Receiver is a running endpoint.
type Receiver struct {
	// URL is where to send the events.
	URL    string
	secret string

	mu sync.Mutex
	// answer decides the status of try n (from 1) of ev; it may block, as
	// a slow receiver does.
	answer func(ev webhook.Event, try int) int
	tries  map[string]int
	// accepted are the events answered 2xx, the first of each, in order:
	// what the order service acts on.
	accepted []webhook.Event
	seen     map[string]bool
	// redelivered counts the 2xx answers to an event accepted before.
	redelivered int
	// refused are requests that failed verification, with why.
	refused []string
	// changed is closed, and replaced, whenever a request was answered.
	changed chan struct{}
}

// Start runs a receiver of events signed with secret that accepts every
// event at its first try, until the test ends.
func Start(t testing.TB, secret string) *Receiver {
	t.Helper()
	r := &Receiver{
		secret: secret, tries: map[string]int{}, seen: map[string]bool{}, changed: make(chan struct{}),
		answer: func(webhook.Event, int) int { return http.StatusNoContent },
	}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hooks/wxnotify"
	return r
}

// Answer makes f decide each answer from now on.
func (r *Receiver) Answer(f func(ev webhook.Event, try int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = f
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var ev webhook.Event
	if err == nil {
		err = webhook.Verify(r.secret, req.Header, body, Tolerance)
	}
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	if err == nil && (ev.ID == "" || req.Header.Get(webhook.HeaderEventID) != ev.ID) {
		err = errMismatch
	}
	if err != nil {
		r.settle(func() { r.refused = append(r.refused, err.Error()) })
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.tries[ev.ID]++
	try, answer := r.tries[ev.ID], r.answer
	r.mu.Unlock()
	status := answer(ev, try) // outside the lock: it may block
	r.settle(func() {
		if status < 200 || status > 299 {
			return
		}
		if r.seen[ev.ID] {
			r.redelivered++
			return
		}
		r.seen[ev.ID] = true
		r.accepted = append(r.accepted, ev)
	})
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status))
}

var errMismatch = errors.New("the event id header is not the body's")

// settle changes the receiver's record and wakes its waiters.
func (r *Receiver) settle(change func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change()
	close(r.changed)
	r.changed = make(chan struct{})
}

// Accepted is the events accepted, each once, in the order they came.
func (r *Receiver) Accepted() []webhook.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted)
}

// Tries is how many verified POSTs of event id came.
func (r *Receiver) Tries(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries[id]
}

// Redelivered counts 2xx answers to events accepted before: the duplicates
// a receiver drops by the event id.
func (r *Receiver) Redelivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.redelivered
}

// Refused is why requests failed verification.
func (r *Receiver) Refused() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.refused)
}

// Wait waits until cond holds of the receiver, checking it after every
// answer, and fails the test if it does not within limit.
func (r *Receiver) Wait(t testing.TB, limit time.Duration, what string, cond func(r *Receiver) bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if cond(r) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("webhook receiver: not %s within %s; accepted %v, refused %v", what, limit, ids(r.Accepted()), r.Refused())
		}
	}
}

// Has reports whether event id was accepted.
func (r *Receiver) Has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func ids(evs []webhook.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// Bury puts ev in app appid's dead list as asynq leaves an event whose
// retries ran out (without a last error): queued as the relay queues it,
// then archived. For tests of the pages that show the list.
func Bury(t testing.TB, rdb redis.UniversalClient, appID string, ev webhook.Event) {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	queue := webhook.Queue(appID)
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask(webhook.TaskType, body), asynq.TaskID(ev.ID), asynq.Queue(queue)); err != nil {
		t.Fatal(err)
	}
	if err := asynq.NewInspectorFromRedisClient(rdb).ArchiveTask(queue, ev.ID); err != nil {
		t.Fatal(err)
	}
}
