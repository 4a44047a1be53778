package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"wxnotify/internal/record"
	"wxnotify/internal/webhook"
)

// The webhook phase's receiver counts as an order service acts: each
// verified event once, whatever comes again, and never a request whose
// signature fails, an event of another round, or one whose sender hung up
// before the answer.
func TestReceiverDedupesVerifiedEvents(t *testing.T) {
	r := startReceiver(hookSecret)
	defer r.close()
	r.reset("wh0fast-", 0)
	post := func(ctx context.Context, dedupe, secret string) int {
		t.Helper()
		ev := webhook.Event{ID: webhook.EventID("order_arrived-"+dedupe, record.Completed), Type: webhook.TypeCompleted,
			Notification: webhook.Notification{ID: "order_arrived-" + dedupe, DedupeKey: dedupe, State: record.Completed}}
		body, _ := json.Marshal(ev)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
		now := time.Now()
		req.Header.Set(webhook.HeaderEventID, ev.ID)
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, now, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		dedupe, secret string
		want           int
	}{
		{"wh0fast-t-order-1", hookSecret, http.StatusNoContent},
		{"wh0fast-t-order-1", hookSecret, http.StatusNoContent}, // again: a duplicate
		{"wh0fast-l-order-1", hookSecret, http.StatusNoContent},
		{"wh0slow-t-order-1", hookSecret, http.StatusNoContent}, // another round's
		{"wh0fast-t-order-2", "another-secret-of-thirty-two-byte", http.StatusUnauthorized},
	} {
		if got := post(context.Background(), c.dedupe, c.secret); got != c.want {
			t.Fatalf("%s signed with %q: answered %d; want %d", c.dedupe, c.secret, got, c.want)
		}
	}
	if got, want := r.snapshot(), (eventCounts{Accepted: 2, Tries: 4, Duplicates: 1, Refused: 1, Stray: 1}); got != want {
		t.Fatalf("counts %+v; want %+v", got, want)
	}
	r.reset("wh1slow-", 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	post(ctx, "wh1slow-t-order-1", hookSecret) // hung up on
	if err := until(context.Background(), 5*time.Second, func() bool { return r.inflight.Load() == 0 }); err != nil {
		t.Fatal(err)
	}
	got := r.snapshot()
	if want := (eventCounts{Tries: 1, Abandoned: 1}); got != want {
		t.Fatalf("after a hang-up: %+v; want %+v", got, want)
	}
}
