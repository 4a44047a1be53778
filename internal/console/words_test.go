package console

import (
	"strings"
	"testing"
	"time"

	"wxnotify/internal/record"
)

// Each outcome the worker writes reads as a sentence, the errcode's words
// first when WeChat gave one; a retry says when it comes.
func TestOutcomesInPlainWords(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		outcome string
		errcode int
		want    string
	}{
		{"delivered", 0, "WeChat took the message"},
		{"delivered_order", 0, "WeChat's order service took it: WeChat tells the buyer itself"},
		{"skipped_no_grant", 0, "the user holds no grant for this template; nothing sent"},
		{"skipped_not_bound", 0, "no openid is bound to this user (never logged in); nothing sent"},
		{"skipped_already_finished", 0, "an earlier run had finished it; nothing sent"},
		{"retried_busy", -1, "WeChat busy; to be tried again"},
		{"retried_timeout", 0, "WeChat did not answer in time; to be tried again"},
		{"retried_rate_limited", 0, "this app's send rate is fully booked (SEND_RATE_PER_SECOND); to be tried again"},
		{"retried_rate_limited", 45011, "WeChat's minute quota reached; to be tried again"},
		{"retried_token_http_5xx", 0, "fetching the access token: WeChat answered with a server error; to be tried again"},
		{"archived_permanent", 40003, "not an openid of this mini program; given up (archived)"},
		{"archived_busy", -1, "WeChat busy; given up (archived)"},
		{"archived_payer_mismatch", 10060031, "the payer is not the order's; given up (archived)"},
		{"archived_something_new", 0, "something new; given up (archived)"},
		{"order_shipped", 0, "WeChat says the order is shipped"},
		{"order_receipt_confirmed", 0, "WeChat says the order is receipt confirmed by the buyer"},
	} {
		if got := said(c.outcome, c.errcode); got != c.want {
			t.Errorf("said(%s, %d) = %q; want %q", c.outcome, c.errcode, got, c.want)
		}
	}
	now := time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC)
	busy := record.Status{State: record.Retry, NextProcessAt: now.Add(30 * time.Second),
		History: []record.Attempt{{Outcome: "retried_busy", ErrCode: -1}, {Outcome: "order_shipped"}}}
	for st, want := range map[*record.Status]string{
		&busy: "WeChat busy, retrying in 30 s",
		{State: record.Scheduled, NextProcessAt: now.Add(2*time.Hour + 5*time.Minute)}:                                                 "scheduled: in 2 h 5 min",
		{State: record.Completed, Result: &record.Result{Status: record.Skipped, Reason: record.ReasonUnsubscribed}}:                   "skipped: the user turned this template off in WeChat's settings; nothing sent",
		{State: record.Archived, History: []record.Attempt{{Outcome: "archived_permanent", ErrCode: 47003}}}:                           "archived: the data does not fit the template's keywords; re-run it in asynqmon once the cause is fixed",
		{State: record.Completed, Result: &record.Result{Status: record.Delivered}, History: []record.Attempt{{Outcome: "delivered"}}}: "delivered: WeChat took the message",
	} {
		if got := standing(*st, now); got != want {
			t.Errorf("standing(%s) = %q; want %q", st.State, got, want)
		}
	}
	if got := standing(record.Status{State: record.Retry, NextProcessAt: now.Add(-3 * time.Second)}, now); !strings.HasSuffix(got, "retrying now (due 3 s ago)") {
		t.Errorf("an overdue retry: %q", got)
	}
	for d, want := range map[time.Duration]string{59 * time.Second: "59 s", 250 * time.Second: "4 min 10 s", 50 * time.Hour: "2 d 2 h"} {
		if got := span(d); got != want {
			t.Errorf("span(%s) = %q; want %q", d, got, want)
		}
	}
}
