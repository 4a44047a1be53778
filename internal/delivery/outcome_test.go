package delivery

import (
	"errors"
	"testing"

	"wxnotify/internal/record"
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
