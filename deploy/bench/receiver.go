package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wxnotify/internal/webhook"
)

// receiver is the order service's webhook endpoint for the webhook phase,
// served from the bench process: it verifies each request as a receiver
// should (webhook.Verify, on the raw body), waits its delay before it
// answers, as an order service doing slow work would, and dedupes the
// events it accepted by their event_id.
type receiver struct {
	url    string
	secret string
	srv    *httptest.Server
	delay  atomic.Int64 // nanoseconds
	// inflight counts the requests being answered.
	inflight atomic.Int64

	mu sync.Mutex
	// tag starts the dedupe key of every notification of the current
	// round: an event of any other is stray.
	tag      string
	accepted map[string]bool // by event id
	counts   eventCounts
}

// eventCounts is what the receiver saw since its last reset.
type eventCounts struct {
	// Accepted is the events answered 2xx, each once: what the order
	// service acts on.
	Accepted int `json:"accepted"`
	// Tries is every verified request.
	Tries int `json:"tries"`
	// Duplicates are 2xx answers to an event accepted before: dropped by
	// the event id (the webhook is at least once).
	Duplicates int `json:"duplicates"`
	// Refused failed verification; Stray are events of no notification of
	// the round; Abandoned were cut off by the sender before the answer
	// (it tries them again).
	Refused   int `json:"refused"`
	Stray     int `json:"stray"`
	Abandoned int `json:"abandoned"`
}

// startReceiver serves a receiver of events signed with secret on a
// loopback port (an http URL the worker accepts only for a loopback host).
func startReceiver(secret string) *receiver {
	r := &receiver{secret: secret, accepted: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.url = r.srv.URL + "/hooks/wxnotify"
	return r
}

func (r *receiver) close() { r.srv.Close() }

// reset starts a round: events of notifications whose dedupe key starts
// with tag, each answered after delay.
func (r *receiver) reset(tag string, delay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tag, r.accepted, r.counts = tag, map[string]bool{}, eventCounts{}
	r.delay.Store(int64(delay))
}

// snapshot is the round's counts so far.
func (r *receiver) snapshot() eventCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	var ev webhook.Event
	if err == nil {
		err = webhook.Verify(r.secret, req.Header, body, 5*time.Minute)
	}
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	if err != nil || ev.ID == "" || req.Header.Get(webhook.HeaderEventID) != ev.ID {
		r.settle(func(c *eventCounts) { c.Refused++ })
		http.Error(w, "not verified", http.StatusUnauthorized)
		return
	}
	r.settle(func(c *eventCounts) { c.Tries++ })
	r.inflight.Add(1)
	defer r.inflight.Add(-1)
	if d := time.Duration(r.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-req.Context().Done():
			// The sender gave up (its timeout, or its shutdown): it never
			// hears the answer and tries the event again.
			t.Stop()
			r.settle(func(c *eventCounts) { c.Abandoned++ })
			return
		}
	}
	r.settle(func(c *eventCounts) {
		switch {
		case !strings.HasPrefix(ev.Notification.DedupeKey, r.tag):
			c.Stray++
		case r.accepted[ev.ID]:
			c.Duplicates++
		default:
			r.accepted[ev.ID] = true
			c.Accepted++
		}
	})
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) settle(change func(c *eventCounts)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change(&r.counts)
}
