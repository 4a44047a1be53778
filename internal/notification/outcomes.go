package notification

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
)

// Outcome classes: what the operator console counts per template and hour.
// The worker's finer outcomes (delivery.Handler's log and metric labels)
// fold into these.
const (
	ClassDelivered      = "delivered"
	ClassSkippedNoGrant = "skipped_no_grant"
	ClassSkippedUnbound = "skipped_not_bound"
	ClassSkippedOther   = "skipped_other"
	ClassRetrying       = "retrying"
	ClassArchived       = "archived"
)

// OutcomeClasses are the classes in the order a chart stacks them.
var OutcomeClasses = []string{ClassDelivered, ClassSkippedNoGrant, ClassSkippedUnbound, ClassSkippedOther, ClassRetrying, ClassArchived}

// OutcomeClass folds a worker outcome ("delivered", "skipped_no_grant",
// "retried_timeout", "archived_permanent", …) into its class; "" for one
// that is not counted.
func OutcomeClass(outcome string) string {
	switch {
	case outcome == "delivered":
		return ClassDelivered
	case outcome == "skipped_no_grant":
		return ClassSkippedNoGrant
	case outcome == "skipped_not_bound":
		return ClassSkippedUnbound
	case outcome == "skipped_already_finished":
		return "" // a redelivery: the first run counted it
	case strings.HasPrefix(outcome, "skipped_"):
		return ClassSkippedOther
	case strings.HasPrefix(outcome, "retried_"):
		return ClassRetrying
	case strings.HasPrefix(outcome, "archived_"):
		return ClassArchived
	}
	return ""
}

// outcomesTTL keeps an hour's counts a little over a day: the console
// shows the last 24 hours.
const outcomesTTL = 26 * time.Hour

// countOutcome adds one to a field of an hour's outcome counts.
// KEYS: the hour's hash. ARGV: field, TTL seconds.
var countOutcome = redisconn.NewScript(`
local n = redis.call("HINCRBY", KEYS[1], ARGV[1], 1)
if n == 1 then
	redis.call("EXPIRE", KEYS[1], ARGV[2])
end
return n`)

// CountCall counts one outcome of template at time at, as a script call a
// caller makes in a round trip it makes anyway (redisconn.RunScripts):
// the counts cost the worker no round trip of their own. nil for an outcome
// that is not counted. A pipeline that Redis ran but whose answer was lost
// and that is sent again counts twice: the counts are for a chart, not for
// billing.
func (r *Records) CountCall(template, outcome string, at time.Time) *redisconn.ScriptCall {
	class := OutcomeClass(outcome)
	if class == "" {
		return nil
	}
	return &redisconn.ScriptCall{Script: countOutcome, Keys: []string{r.keys.Outcomes(at)}, Args: []any{OutcomeField(template, class), seconds(outcomesTTL)}}
}

// OutcomeField is the field of template's class in an hour's counts.
func OutcomeField(template, class string) string { return template + "|" + class }

// HourCounts is one hour's outcome counts: template → class → count.
type HourCounts struct {
	Hour   time.Time
	Counts map[string]map[string]int64
}

// OutcomeCounts reads the counts of the hours hours up to and including
// now's, oldest first, in one round trip.
func (r *Records) OutcomeCounts(ctx context.Context, now time.Time, hours int) ([]HourCounts, error) {
	start := now.UTC().Truncate(time.Hour).Add(-time.Duration(hours-1) * time.Hour)
	cmds := make([]*redis.MapStringStringCmd, hours)
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range hours {
			cmds[i] = p.HGetAll(ctx, r.keys.Outcomes(start.Add(time.Duration(i)*time.Hour)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read outcome counts: %w", err)
	}
	out := make([]HourCounts, hours)
	for i, cmd := range cmds {
		out[i] = HourCounts{Hour: start.Add(time.Duration(i) * time.Hour), Counts: map[string]map[string]int64{}}
		for f, v := range cmd.Val() {
			template, class, ok := strings.Cut(f, "|")
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil {
				continue
			}
			if out[i].Counts[template] == nil {
				out[i].Counts[template] = map[string]int64{}
			}
			out[i].Counts[template][class] += n
		}
	}
	return out, nil
}
