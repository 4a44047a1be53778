package record

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
)

// Class is an outcome's class: what the operator console counts per
// template and hour. The worker gives each outcome its class when it
// decides it (delivery); nothing here reads an outcome's name.
type Class string

// The outcome classes.
const (
	ClassDelivered      Class = "delivered"
	ClassSkippedNoGrant Class = "skipped_no_grant"
	ClassSkippedUnbound Class = "skipped_not_bound"
	ClassSkippedOther   Class = "skipped_other"
	ClassRetrying       Class = "retrying"
	ClassArchived       Class = "archived"
)

// OutcomeClasses are the classes in the order a chart stacks them.
var OutcomeClasses = []Class{ClassDelivered, ClassSkippedNoGrant, ClassSkippedUnbound, ClassSkippedOther, ClassRetrying, ClassArchived}

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

// CountCall counts one outcome of class for template at time at, as a
// script call a caller makes in a round trip it makes anyway
// (redisconn.RunScripts): the counts cost the worker no round trip of their
// own. A pipeline that Redis ran but whose answer was lost
// and that is sent again counts twice: the counts are for a chart, not for
// billing.
func (s *Store) CountCall(template string, class Class, at time.Time) *redisconn.ScriptCall {
	return &redisconn.ScriptCall{Script: countOutcome, Keys: []string{s.keys.Outcomes(at)}, Args: []any{OutcomeField(template, class), redisconn.Seconds(outcomesTTL)}}
}

// OutcomeField is the field of template's class in an hour's counts.
func OutcomeField(template string, class Class) string { return template + "|" + string(class) }

// HourCounts is one hour's outcome counts: template → class → count.
type HourCounts struct {
	Hour   time.Time
	Counts map[string]map[Class]int64
}

// OutcomeCounts reads the counts of the hours hours up to and including
// now's, oldest first, in one round trip.
func (s *Store) OutcomeCounts(ctx context.Context, now time.Time, hours int) ([]HourCounts, error) {
	start := now.UTC().Truncate(time.Hour).Add(-time.Duration(hours-1) * time.Hour)
	cmds := make([]*redis.MapStringStringCmd, hours)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range hours {
			cmds[i] = p.HGetAll(ctx, s.keys.Outcomes(start.Add(time.Duration(i)*time.Hour)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read outcome counts: %w", err)
	}
	out := make([]HourCounts, hours)
	for i, cmd := range cmds {
		out[i] = HourCounts{Hour: start.Add(time.Duration(i) * time.Hour), Counts: map[string]map[Class]int64{}}
		for f, v := range cmd.Val() {
			template, class, ok := strings.Cut(f, "|")
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil {
				continue
			}
			if out[i].Counts[template] == nil {
				out[i].Counts[template] = map[Class]int64{}
			}
			out[i].Counts[template][Class(class)] += n
		}
	}
	return out, nil
}
