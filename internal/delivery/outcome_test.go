package delivery

import (
	"errors"
	"testing"
	"time"

	"wxnotify/internal/record"
	"wxnotify/internal/task"
	"wxnotify/internal/wechat"
)

// Every outcome has the name the metric and the history show, and the
// class the console counts, decided where the outcome is made.
func TestOutcomeNamesAndClasses(t *testing.T) {
	t.Parallel()
	cause := errors.New("x")
	for _, tc := range []struct {
		o     outcome
		name  string
		class record.Class
	}{
		{deliveredAs("1"), "delivered", record.ClassDelivered},
		{skippedFor(record.ReasonNoGrant, 0), "skipped_no_grant", record.ClassSkippedNoGrant},
		{skippedFor(record.ReasonNotBound, 0), "skipped_not_bound", record.ClassSkippedUnbound},
		{skippedFor(record.ReasonUnsubscribed, 0), "skipped_unsubscribed", record.ClassSkippedOther},
		{skippedFor(record.ReasonProbablyDelivered, 0), "skipped_probably_delivered", record.ClassSkippedOther},
		{retryFor("timeout", 0, 0, cause), "retried_timeout", record.ClassRetrying},
		{deferFor("rate_limited", 45009, 0, cause), "retried_rate_limited", record.ClassRetrying},
		{archiveFor("permanent", 40003, cause), "archived_permanent", record.ClassArchived},
		{retryFor("timeout", 0, 0, cause).exhausted(), "archived_timeout", record.ClassArchived},
		{outcome{verdict: alreadyFinished}, "skipped_already_finished", ""},
		{outcome{verdict: claimHeld}, "retried_claim_held", ""},
	} {
		if got := tc.o.name(); got != tc.name {
			t.Errorf("name %q, want %q", got, tc.name)
		}
		if got := tc.o.class(); got != tc.class {
			t.Errorf("%s: class %q, want %q", tc.name, got, tc.class)
		}
	}
}

// The order channel's refusals, by what they mean for the notification:
// WeChat's "already done" is success after an attempt that may have acted,
// the payment WeChat has not filed yet is a minute's wait, the rest fails.
func TestShipFailed(t *testing.T) {
	t.Parallel()
	h := &Handler{}
	refusal := func(endpoint string, code int) error { return &wechat.Error{Endpoint: endpoint, Code: code, Msg: "x"} }
	shipped := &attempt{p: task.Payload{Order: &task.Order{Event: task.OrderShipped}}}
	arrived := &attempt{p: task.Payload{Order: &task.Order{Event: task.OrderArrived}}}
	arrivedAgain := &attempt{p: arrived.p, ambiguous: true}
	for _, tc := range []struct {
		a     *attempt
		err   error
		name  string
		class record.Class
	}{
		{shipped, refusal(wechat.EndpointUploadShipping, 10060001), "retried_payment_not_found", record.ClassRetrying},
		{shipped, refusal(wechat.EndpointUploadShipping, 10060023), "delivered_order", record.ClassDelivered},
		{shipped, refusal(wechat.EndpointUploadShipping, 10060003), "archived_already_done", record.ClassArchived},
		{shipped, refusal(wechat.EndpointUploadShipping, 10060031), "archived_payer_mismatch", record.ClassArchived},
		{arrived, refusal(wechat.EndpointNotifyConfirmReceive, 10060030), "skipped_already_reminded", record.ClassSkippedOther},
		{arrivedAgain, refusal(wechat.EndpointNotifyConfirmReceive, 10060030), "delivered_order", record.ClassDelivered},
		{arrived, refusal(wechat.EndpointNotifyConfirmReceive, 10060029), "archived_invalid_received_time", record.ClassArchived},
		{arrived, refusal(wechat.EndpointNotifyConfirmReceive, -1), "retried_busy", record.ClassRetrying},
	} {
		o := h.shipFailed(tc.a, tc.err)
		if o.name() != tc.name || o.class() != tc.class {
			t.Errorf("%v: %s (%s); want %s (%s)", tc.err, o.name(), o.class(), tc.name, tc.class)
		}
		if o.verdict == deferred && o.wait < time.Minute {
			t.Errorf("%v: waits %s; WeChat asks for a minute", tc.err, o.wait)
		}
	}
}
