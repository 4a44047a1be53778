package notification_test

import (
	"context"
	"testing"
	"time"

	"wxnotify/internal/notification"
	"wxnotify/internal/redisconn"
)

func TestOutcomeClass(t *testing.T) {
	t.Parallel()
	for outcome, want := range map[string]string{
		"delivered": "delivered", "skipped_no_grant": "skipped_no_grant", "skipped_not_bound": "skipped_not_bound",
		"skipped_unsubscribed": "skipped_other", "skipped_probably_delivered": "skipped_other",
		"skipped_already_finished": "", "retried_timeout": "retrying", "retried_rate_limited": "retrying",
		"archived_permanent": "archived", "archived_malformed": "archived", "": "",
	} {
		if got := notification.OutcomeClass(outcome); got != want {
			t.Errorf("OutcomeClass(%q) = %q, want %q", outcome, got, want)
		}
	}
}

// Counts land in the hour they happened, expire after about a day, and
// read back per template and class, oldest hour first.
func TestOutcomeCounts(t *testing.T) {
	t.Parallel()
	q, rdb := setup(t)
	ctx := context.Background()
	now := time.Now().UTC()
	earlier := now.Add(-3 * time.Hour)
	var calls []*redisconn.ScriptCall
	for _, c := range []struct {
		template, outcome string
		at                time.Time
	}{
		{"order_arrived", "delivered", now}, {"order_arrived", "delivered", now}, {"order_arrived", "retried_timeout", now},
		{"order_arrived", "skipped_no_grant", earlier}, {"refund", "archived_permanent", earlier},
	} {
		calls = append(calls, q.CountCall(c.template, c.outcome, c.at))
	}
	if q.CountCall("order_arrived", "skipped_already_finished", now) != nil {
		t.Error("a redelivery is counted")
	}
	if err := redisconn.RunScripts(ctx, rdb, calls...); err != nil {
		t.Fatal(err)
	}
	ttl := rdb.TTL(ctx, notification.NewKeys(appID).Outcomes(now)).Val()
	if ttl < 25*time.Hour || ttl > 26*time.Hour {
		t.Errorf("TTL %v, want about 26 h", ttl)
	}
	hours, err := q.OutcomeCounts(ctx, now, 24)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 24 || !hours[23].Hour.Equal(now.Truncate(time.Hour)) {
		t.Fatalf("%d hours ending %v", len(hours), hours[len(hours)-1].Hour)
	}
	if got := hours[23].Counts["order_arrived"]; got["delivered"] != 2 || got["retrying"] != 1 {
		t.Errorf("this hour: %v", got)
	}
	if got := hours[20].Counts; got["order_arrived"]["skipped_no_grant"] != 1 || got["refund"]["archived"] != 1 {
		t.Errorf("three hours ago: %v", got)
	}
}
