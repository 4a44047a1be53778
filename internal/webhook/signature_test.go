package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"wxnotify/internal/webhook"
)

const testSecret = "webhook-secret-of-32-bytes-00001"

// signed is the headers a request of body sent at ts carries.
func signed(secret string, ts time.Time, body []byte) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, body))
	return h
}

// What the sender signs, the receiver verifies; a changed body, timestamp
// or secret, a stale timestamp or a missing header does not pass.
func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event_id":"order_arrived.3f2a.completed","type":"notification.completed"}`)
	now := time.Unix(1_800_000_000, 0)
	h := signed(testSecret, now, body)
	if err := webhook.VerifyAt(testSecret, h, body, 5*time.Minute, now.Add(time.Minute)); err != nil {
		t.Fatalf("a good request: %v", err)
	}
	later := h.Clone()
	later.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
	rotated := h.Clone()
	rotated.Set(webhook.HeaderSignature, webhook.Sign("the-previous-secret-of-32-bytes-0", now, body)+","+h.Get(webhook.HeaderSignature))
	if err := webhook.VerifyAt(testSecret, rotated, body, 5*time.Minute, now); err != nil {
		t.Errorf("two signatures, one by the secret (a rotation): %v", err)
	}
	for _, tc := range []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		{"a changed body", testSecret, h, []byte(`{"event_id":"order_arrived.3f2a.archived","type":"notification.completed"}`), now, webhook.ErrBadSignature},
		{"a changed timestamp", testSecret, later, body, now, webhook.ErrBadSignature},
		{"another secret", "another-secret-of-32-bytes-00001", h, body, now, webhook.ErrBadSignature},
		{"a replay past the tolerance", testSecret, h, body, now.Add(6 * time.Minute), webhook.ErrStale},
		{"a timestamp from the future", testSecret, h, body, now.Add(-6 * time.Minute), webhook.ErrStale},
		{"no signature", testSecret, http.Header{webhook.HeaderTimestamp: h[webhook.HeaderTimestamp]}, body, now, webhook.ErrNoSignature},
		{"no timestamp", testSecret, http.Header{webhook.HeaderSignature: h[webhook.HeaderSignature]}, body, now, webhook.ErrNoSignature},
		{"a signature not hex", testSecret, http.Header{webhook.HeaderTimestamp: h[webhook.HeaderTimestamp], webhook.HeaderSignature: {"v1=zz"}}, body, now, webhook.ErrBadSignature},
	} {
		if err := webhook.VerifyAt(tc.secret, tc.h, tc.body, 5*time.Minute, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.want)
		}
	}
}
