package record_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
	"wxnotify/internal/task"
)

// retried, finished and archived write an attempt's outcome as the worker
// does: the record's write, then the feed's, in one round trip.
// retried records a retry of notification id at time at: the feed orders
// retries by when they happened, so a test that retries several gives
// each its own time rather than depend on the clock moving between them.
func retried(t *testing.T, s *record.Store, rdb redis.UniversalClient, id string, at time.Time) {
	t.Helper()
	run(t, rdb, append([]*redisconn.ScriptCall{s.RetryCall(id, record.Step{Outcome: "retried_busy", ErrCode: -1, Error: "busy"}, at.Add(time.Minute), true)},
		s.RetryFeedCalls(id, at)...)...)
}

func finished(t *testing.T, s *record.Store, rdb redis.UniversalClient, id string, p task.Payload, state record.State, res record.Result) {
	t.Helper()
	run(t, rdb, append([]*redisconn.ScriptCall{s.FinishCall(id, record.From(p, 3), state, res, record.Step{Outcome: "x"})},
		s.FinishFeedCalls(id, state, res, time.Now())...)...)
}

// deliverAll delivers the notifications ps with ids, in one round trip.
func deliverAll(t *testing.T, s *record.Store, rdb redis.UniversalClient, ps []task.Payload, ids []string) {
	t.Helper()
	var calls []*redisconn.ScriptCall
	for i, id := range ids {
		res := record.Result{Status: record.Delivered, MsgID: "1"}
		calls = append(calls, s.FinishCall(id, record.From(ps[i], 3), record.Completed, res, record.Step{Outcome: "delivered"}))
		calls = append(calls, s.FinishFeedCalls(id, record.Completed, res, time.Now())...)
	}
	run(t, rdb, calls...)
}

// feedIDs lists the ids on a page of the feed.
func feedIDs(t *testing.T, s *record.Store, q record.FeedQuery) ([]string, string) {
	t.Helper()
	page, err := s.Feed(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range page.Entries {
		ids = append(ids, e.ID)
	}
	return ids, page.Next
}

// posted creates n notifications of template, accepted a millisecond
// apart, oldest first, and returns their payloads and ids.
func posted(t *testing.T, s *record.Store, template string, n int, start time.Time) ([]task.Payload, []string) {
	t.Helper()
	var ps []task.Payload
	var ids []string
	for i := range n {
		p := payload("u-feed", fmt.Sprintf("%s-%d-%d", template, start.UnixNano(), i))
		p.Template = template
		p.CreatedAt = start.Add(time.Duration(i) * time.Millisecond)
		ps = append(ps, p)
		ids = append(ids, create(t, s, p))
	}
	return ps, ids
}

// An entry moves with its record: pending when accepted, retrying after a
// retry, then in the log of how it ended, in no other state's list; the
// sets are empty once nothing is in flight.
func TestFeedFollowsTheRecord(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ps, ids := posted(t, s, "order_arrived", 4, time.Now().Add(-time.Minute))
	want := func(state record.FeedState, ids ...string) {
		t.Helper()
		got, next := feedIDs(t, s, record.FeedQuery{State: state})
		if !slices.Equal(got, ids) || next != "" {
			t.Errorf("%s: %v (next %q); want %v", state, got, next, ids)
		}
	}
	want(record.FeedPending, ids[3], ids[2], ids[1], ids[0])
	retried(t, s, rdb, ids[1], time.Now())
	retried(t, s, rdb, ids[2], time.Now().Add(time.Millisecond))
	want(record.FeedPending, ids[3], ids[0])
	want(record.FeedRetrying, ids[2], ids[1])
	finished(t, s, rdb, ids[0], ps[0], record.Completed, record.Result{Status: record.Delivered, MsgID: "1"})
	finished(t, s, rdb, ids[1], ps[1], record.Completed, record.Result{Status: record.Skipped, Reason: record.ReasonNoGrant})
	finished(t, s, rdb, ids[2], ps[2], record.Archived, record.Result{})
	finished(t, s, rdb, ids[3], ps[3], record.Completed, record.Result{Status: record.Delivered, MsgID: "2"})
	want(record.FeedPending)
	want(record.FeedRetrying)
	want(record.FeedDelivered, ids[3], ids[0])
	want(record.FeedSkipped, ids[1])
	want(record.FeedArchived, ids[2])
	k := s.Keys()
	for _, state := range []record.FeedState{record.FeedPending, record.FeedRetrying} {
		if n := rdb.Exists(t.Context(), k.FeedInFlight(state)).Val(); n != 0 {
			t.Errorf("the %s set is left with nothing in flight", state)
		}
	}
	// The log is the 16-byte hashes, oldest first, and expires.
	log := k.FeedLog(record.FeedDelivered, time.Now())
	raw := rdb.Get(t.Context(), log).Val()
	if hex.EncodeToString([]byte(raw)) != strings.TrimPrefix(ids[0], "order_arrived-")+strings.TrimPrefix(ids[3], "order_arrived-") {
		t.Errorf("the delivered log holds %x", raw)
	}
	if ttl := rdb.TTL(t.Context(), log).Val(); ttl <= time.Hour || ttl > 3*time.Hour {
		t.Errorf("the log's TTL %s; want the retention (1 h) and two", ttl)
	}
}

// A repeat of a notification that is no longer pending does not list it
// as pending again, and a retry write that finds it completed does not
// list it as retrying; an archived notification re-run and archived again
// lists once.
func TestFeedIgnoresWritesThatChangeNothing(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ps, ids := posted(t, s, "order_arrived", 2, time.Now())
	finished(t, s, rdb, ids[0], ps[0], record.Completed, record.Result{Status: record.Delivered, MsgID: "1"})
	create(t, s, ps[0]) // the order service posts it again
	retried(t, s, rdb, ids[0], time.Now())
	finished(t, s, rdb, ids[1], ps[1], record.Archived, record.Result{})
	run(t, rdb, s.BeginCall(ids[1], record.From(ps[1], 3)).Call) // re-run from asynqmon
	finished(t, s, rdb, ids[1], ps[1], record.Archived, record.Result{})
	for state, want := range map[record.FeedState][]string{
		record.FeedPending: nil, record.FeedRetrying: nil, record.FeedDelivered: {ids[0]}, record.FeedArchived: {ids[1]},
	} {
		if got, _ := feedIDs(t, s, record.FeedQuery{State: state}); !slices.Equal(got, want) {
			t.Errorf("%s: %v; want %v", state, got, want)
		}
	}
	// Re-run once more, and delivered: archived no longer lists it.
	run(t, rdb, s.BeginCall(ids[1], record.From(ps[1], 3)).Call)
	finished(t, s, rdb, ids[1], ps[1], record.Completed, record.Result{Status: record.Delivered, MsgID: "2"})
	if got, _ := feedIDs(t, s, record.FeedQuery{State: record.FeedArchived}); len(got) != 0 {
		t.Errorf("archived after the re-run delivered: %v", got)
	}
	if got, _ := feedIDs(t, s, record.FeedQuery{State: record.FeedDelivered}); !slices.Equal(got, []string{ids[1], ids[0]}) {
		t.Errorf("delivered: %v", got)
	}
}

// Pages follow one another without a gap or a repeat, in sets and logs
// alike, and a cursor of another kind is refused.
func TestFeedPages(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ps, ids := posted(t, s, "order_arrived", 130, time.Now().Add(-time.Hour))
	newest := slices.Clone(ids)
	slices.Reverse(newest)
	walk := func(state record.FeedState) []string {
		var all []string
		cursor := ""
		for pages := 0; ; pages++ {
			got, next := feedIDs(t, s, record.FeedQuery{State: state, Cursor: cursor, Limit: 50})
			all = append(all, got...)
			if next == "" {
				if pages != 2 {
					t.Errorf("%s: %d pages; want 3 of 50, 50, 30", state, pages+1)
				}
				return all
			}
			cursor = next
		}
	}
	if got := walk(record.FeedPending); !slices.Equal(got, newest) {
		t.Fatalf("pending, paged: %d ids, in order: %v", len(got), slices.Equal(got, newest))
	}
	deliverAll(t, s, rdb, ps, ids)
	if got := walk(record.FeedDelivered); !slices.Equal(got, newest) {
		t.Fatalf("delivered, paged: %d ids, in order: %v", len(got), slices.Equal(got, newest))
	}
	for _, q := range []record.FeedQuery{{State: record.FeedPending, Cursor: "2026120614.32"}, {State: record.FeedDelivered, Cursor: "1.00"}, {State: record.FeedDelivered, Cursor: "2026120614.3"}} {
		if _, err := s.Feed(t.Context(), q); err != record.ErrBadCursor {
			t.Errorf("%s with cursor %q: %v; want ErrBadCursor", q.State, q.Cursor, err)
		}
	}
}

// Template, reason and time filter from the records; a filter that
// matches few entries pages on after feedScanLimit of them rather than
// reading the whole index at once.
func TestFeedFilters(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	_, arrived := posted(t, s, "order_arrived", 1100, start)
	tp, transit := posted(t, s, "transit_reminder", 2, start.Add(2*time.Second))
	q := record.FeedQuery{State: record.FeedPending, Template: "transit_reminder"}
	if got, _ := feedIDs(t, s, q); !slices.Equal(got, []string{transit[1], transit[0]}) {
		t.Errorf("pending transit_reminder: %v", got)
	}
	q = record.FeedQuery{State: record.FeedPending, From: start.Add(time.Second), To: start.Add(time.Second + 3*time.Millisecond)}
	if got, _ := feedIDs(t, s, q); !slices.Equal(got, []string{arrived[1002], arrived[1001], arrived[1000]}) {
		t.Errorf("pending in a 3 ms window: %v", got)
	}
	// The oldest transit_reminder, behind 1,100 order_arrived: the first
	// page reads feedScanLimit entries and says where to go on.
	_, old := posted(t, s, "transit_reminder", 1, start.Add(-time.Minute))
	q = record.FeedQuery{State: record.FeedPending, Template: "transit_reminder", Limit: 10}
	page, err := s.Feed(t.Context(), q)
	if err != nil || len(page.Entries) != 2 || page.Next == "" || page.Scanned != 1000 {
		t.Fatalf("first page: %d entries, next %q, scanned %d, %v", len(page.Entries), page.Next, page.Scanned, err)
	}
	q.Cursor = page.Next
	if got, next := feedIDs(t, s, q); !slices.Equal(got, old) || next != "" {
		t.Errorf("second page: %v, next %q; want %v", got, next, old)
	}
	// Skips by reason, "other" for all but no_grant and not_bound.
	for i, reason := range []string{record.ReasonNoGrant, record.ReasonUnsubscribed} {
		finished(t, s, rdb, transit[i], tp[i], record.Completed, record.Result{Status: record.Skipped, Reason: reason})
	}
	for reason, want := range map[string][]string{"": {transit[1], transit[0]}, record.ReasonNoGrant: {transit[0]}, record.FeedOtherReasons: {transit[1]}, record.ReasonNotBound: nil} {
		if got, _ := feedIDs(t, s, record.FeedQuery{State: record.FeedSkipped, Reason: reason}); !slices.Equal(got, want) {
			t.Errorf("skipped, reason %q: %v; want %v", reason, got, want)
		}
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	if got, _ := feedIDs(t, s, record.FeedQuery{State: record.FeedSkipped, From: hour.Add(-time.Hour), To: hour}); len(got) != 0 {
		t.Errorf("skipped in the last hour but this one: %v", got)
	}
	if got, _ := feedIDs(t, s, record.FeedQuery{State: record.FeedSkipped, From: hour, To: hour.Add(time.Hour)}); len(got) != 2 {
		t.Errorf("skipped in this hour: %v", got)
	}
}

// An in-flight set keeps its newest entries up to its bound, and none
// older than a record can live.
func TestFeedInFlightIsBounded(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	s.SetFeedBound(5)
	key := s.Keys().FeedInFlight(record.FeedPending)
	stale := string(make([]byte, 16))
	rdb.ZAdd(t.Context(), key, redis.Z{Score: float64(time.Now().Add(-60 * 24 * time.Hour).UnixMilli()), Member: stale})
	_, ids := posted(t, s, "order_arrived", 8, time.Now())
	got, _ := feedIDs(t, s, record.FeedQuery{State: record.FeedPending})
	if !slices.Equal(got, []string{ids[7], ids[6], ids[5], ids[4], ids[3]}) {
		t.Errorf("pending, bound 5: %v", got)
	}
	if n := rdb.ZCard(t.Context(), key).Val(); n != 5 || rdb.ZScore(t.Context(), key, stale).Err() != redis.Nil {
		t.Errorf("the set holds %d entries, the stale one too: %v", n, rdb.ZScore(t.Context(), key, stale).Err() != redis.Nil)
	}
}

// A retained notification's entry in the feed costs its 16 bytes in the
// hour's log; the in-flight sets cost nothing once it is done.
func TestFeedIsCompact(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ps, ids := posted(t, s, "order_arrived", 1000, time.Now())
	deliverAll(t, s, rdb, ps, ids)
	used := int64(0)
	for _, k := range rdb.Keys(t.Context(), "wxnotify:*feed*").Val() {
		used += rdb.MemoryUsage(t.Context(), k).Val()
	}
	per := float64(used) / 1000
	t.Logf("FIGURE the feed: %.1f B of MEMORY USAGE per delivered notification", per)
	if per > 40 {
		t.Errorf("the feed costs %.1f B per delivered notification; want ≤ 40", per)
	}
}

// On a Redis Cluster the feed's keys live on their own slots, and its
// calls apply their moves without the record: the lists come out the
// same, a repeat of a finished notification included.
func TestFeedOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a six-node Redis Cluster")
	}
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterConfig{})
	rdb := c.Client(t)
	s := record.NewStore(rdb, appID, time.Hour)
	ps, ids := posted(t, s, "order_arrived", 3, time.Now())
	retried(t, s, rdb, ids[1], time.Now())
	finished(t, s, rdb, ids[0], ps[0], record.Completed, record.Result{Status: record.Delivered, MsgID: "1"})
	create(t, s, ps[0])
	for state, want := range map[record.FeedState][]string{
		record.FeedPending: {ids[2]}, record.FeedRetrying: {ids[1]}, record.FeedDelivered: {ids[0]},
	} {
		if got, _ := feedIDs(t, s, record.FeedQuery{State: state}); !slices.Equal(got, want) {
			t.Errorf("%s: %v; want %v", state, got, want)
		}
	}
	if n := rdb.ZCard(context.Background(), s.Keys().FeedInFlight(record.FeedPending)).Val(); n != 1 {
		t.Errorf("the pending set holds %d entries; want 1", n)
	}
}
