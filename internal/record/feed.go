package record

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
)

// The feed is every notification of an app by where it stands, newest
// first: what the console browses when the operator starts from "what is
// failing right now?" rather than from a key, an id or a user.
//
// It is two kinds of index, by what their entries do.
//
// In flight — pending and retrying — is a sorted set each
// (Keys.FeedInFlight), member the 16 raw bytes of the id's hash (as in the
// user's list), score when the notification entered the set (Unix ms:
// accepted, or its latest retry). An entry moves from one to the other,
// and leaves both when the notification finishes, in one script on the
// sets' one slot, so they hold what is in flight now: a few entries
// normally, a backlog when there is one, and never more than
// feedInFlightLen each (the newest; older entries are trimmed). A sorted
// set's entry costs about 120 bytes (MEMORY USAGE of a skiplist set of
// 16-byte members), but only while its notification is in flight.
//
// Finished — delivered, skipped, archived — is an append-only log per class
// and hour (Keys.FeedLog): a string of the 16-byte members in the order
// they finished, kept as long as their records. An entry costs its 16 bytes
// and the string's growth slack (the bench measured 30 bytes in all),
// where a sorted set would cost 120: every retained notification is in the
// feed for a quarter of that, though the budget of 400 bytes per retained
// notification is missed since (docs/benchmarks.md says by how much and
// why). A finished notification never moves again, but for an archived one
// re-run from asynqmon; the reader drops an entry whose record finished in
// another hour than the entry's.
//
// The index is written in the round trips the record's writes make anyway:
// Create for pending, the worker's retry and final writes for the rest
// (RetryFeedCalls, FinishFeedCalls). On one node the in-flight call runs in
// the same script after the record's write and reads the record's new
// state, so it is exact; on a Cluster the feed's slot is not the record's,
// and the call applies the move without reading the record. Either way the
// reader keeps an entry only if its record agrees: the index may lag
// behind a record, it never misleads.

// FeedState is where a notification stands in the feed.
type FeedState string

// The feed's states, in the order the console lists them.
const (
	// FeedPending: accepted and waiting (scheduled with a send_at
	// included), or its first attempt running.
	FeedPending FeedState = "pending"
	// FeedRetrying: an attempt failed or was deferred, and it will run
	// again.
	FeedRetrying  FeedState = "retrying"
	FeedDelivered FeedState = "delivered"
	FeedSkipped   FeedState = "skipped"
	FeedArchived  FeedState = "archived"
)

// FeedStates are the feed's states.
var FeedStates = []FeedState{FeedPending, FeedRetrying, FeedDelivered, FeedSkipped, FeedArchived}

// finished reports whether f is a finished class: a log, not a set.
func (f FeedState) finished() bool {
	return f == FeedDelivered || f == FeedSkipped || f == FeedArchived
}

// FeedStateOf is where st stands in the feed; "" for a notification whose
// attempt is running (it stays where it was until the attempt ends).
func FeedStateOf(st Status) FeedState {
	switch st.State {
	case Pending, Scheduled:
		return FeedPending
	case Retry:
		return FeedRetrying
	case Archived:
		return FeedArchived
	case Completed:
		if st.Result != nil && st.Result.Status == Skipped {
			return FeedSkipped
		}
		return FeedDelivered
	}
	return ""
}

// feedInFlightLen bounds each in-flight set (Store.feedLen, lowered by
// tests): a backlog of scheduled
// notifications lists its newest 10,000 (asynqmon and the health page
// count them all), and an app's sets never cost more than about 2.4 MB.
const feedInFlightLen = 10_000

// maxUnfinished is the longest a record can stay unfinished: its pending
// TTL with a send_at at the farthest (30 days). An in-flight entry older
// than that has no record left, whatever went wrong.
func (s *Store) maxUnfinished() time.Duration { return s.retention + 48*time.Hour + 31*24*time.Hour }

// feedMember is notification id in the feed: the 16 raw bytes of its
// hash; "" for an id without one (not task.ID's), which is not indexed.
func feedMember(id string) string {
	raw, err := hex.DecodeString(idHash(id))
	if err != nil || len(raw) != 16 {
		return ""
	}
	return string(raw)
}

// feedMove makes an in-flight move: to pending (added unless listed), to
// retrying (out of pending, into retrying at the retry's time) or out of
// both (finished). Given the record too (one node), it moves only if the
// record, written just before in the same script, is where the move goes:
// a repeat of a notification that is no longer pending is not listed
// again, and a retry write that found the notification completed moves
// nothing; and a pending entry is scored by the record's acceptance. Each
// set it adds to is trimmed by age and to its bound.
// KEYS: the pending set, the retrying set, [the record]. ARGV: to
// ("pending", "retrying" or "finished"), member, score (Unix ms), bound,
// cutoff (Unix ms).
var feedMove = redisconn.NewScript(luaRecord + `
local to, member, score = ARGV[1], ARGV[2], ARGV[3]
if KEYS[3] then
	local cur = redis.call("GET", KEYS[3])
	local state = ""
	if cur then state = field(cur, F.state) end
	if (to == "pending" and state ~= "pending" and state ~= "scheduled") or (to == "retrying" and state ~= "retry") then
		return 0
	end
	if to == "pending" then
		score = field(cur, F.created) -- a repeat's post is not when it was accepted
	end
end
local function add(key, how)
	if how then
		redis.call("ZADD", key, how, score, member)
	else
		redis.call("ZADD", key, score, member)
	end
	redis.call("ZREMRANGEBYSCORE", key, "-inf", "(" .. ARGV[5])
	local extra = redis.call("ZCARD", key) - tonumber(ARGV[4])
	if extra > 0 then
		redis.call("ZREMRANGEBYRANK", key, 0, extra - 1)
	end
end
if to == "pending" then
	add(KEYS[1], "NX")
elseif to == "retrying" then
	redis.call("ZREM", KEYS[1], member)
	add(KEYS[2])
else
	redis.call("ZREM", KEYS[1], member)
	redis.call("ZREM", KEYS[2], member)
end
return 1`)

// feedAppend adds a finished notification to its hour's log, which lives
// until the last record it lists has expired.
// KEYS: the log. ARGV: member, TTL seconds.
var feedAppend = redisconn.NewScript(`
if redis.call("APPEND", KEYS[1], ARGV[1]) == string.len(ARGV[1]) then
	redis.call("EXPIRE", KEYS[1], ARGV[2])
end
return 1`)

// feedMoveCall is notification id's in-flight move to (FeedPending,
// FeedRetrying, or "" for finished) at time at.
func (s *Store) feedMoveCall(id, member string, to FeedState, at time.Time) *redisconn.ScriptCall {
	keys := []string{s.keys.FeedInFlight(FeedPending), s.keys.FeedInFlight(FeedRetrying)}
	if redisconn.OneNode(s.rdb) {
		keys = append(keys, s.keys.Record(id))
	}
	move := string(to)
	if move == "" {
		move = "finished"
	}
	return &redisconn.ScriptCall{Script: feedMove, Keys: keys,
		Args: []any{move, member, at.UnixMilli(), s.feedLen, time.Now().Add(-s.maxUnfinished()).UnixMilli()}}
}

// RetryFeedCalls move notification id to the feed's retrying set at time
// at: RetryCall's companions, for the same redisconn.RunScripts. Put them
// last: the feed is an index, and on one node a call that fails stops
// those after it.
func (s *Store) RetryFeedCalls(id string, at time.Time) []*redisconn.ScriptCall {
	member := feedMember(id)
	if member == "" {
		return nil
	}
	return []*redisconn.ScriptCall{s.feedMoveCall(id, member, FeedRetrying, at)}
}

// FinishFeedCalls take notification id out of the in-flight sets and file
// it in the log of its final state (Completed with res, or Archived) for
// the hour of at: FinishCall's companions, for the same
// redisconn.RunScripts, last (RetryFeedCalls says why).
func (s *Store) FinishFeedCalls(id string, state State, res Result, at time.Time) []*redisconn.ScriptCall {
	member := feedMember(id)
	if member == "" {
		return nil
	}
	class := FeedStateOf(Status{State: state, Result: &res})
	// A log lives until the records of its hour's last entries expire: the
	// retention from the hour's end, an hour after the first entry at most.
	ttl := redisconn.Seconds(s.retention + 2*time.Hour)
	return []*redisconn.ScriptCall{
		s.feedMoveCall(id, member, "", at),
		{Script: feedAppend, Keys: []string{s.keys.FeedLog(class, at)}, Args: []any{member, ttl}},
	}
}

// FeedQuery is what Feed lists.
type FeedQuery struct {
	State FeedState
	// Template and Reason filter by the record ("" for any). Reason is a
	// skip reason (skipped only), or FeedOtherReasons.
	Template, Reason string
	// From and To bound when the notification entered its state — was
	// accepted, last retried, finished — From included, To not; zero for
	// no bound.
	From, To time.Time
	// Cursor is a FeedPage's Next ("" for the newest).
	Cursor string
	Limit  int
}

// FeedOtherReasons is the Reason of the skips that are neither no_grant nor
// not_bound: the console's chart counts them together.
const FeedOtherReasons = "other"

// FeedEntry is one notification of the feed: its record, and when it
// entered its state.
type FeedEntry struct {
	Status
	At time.Time
}

// FeedPage is a page of the feed, newest first.
type FeedPage struct {
	Entries []FeedEntry
	// Next is the cursor of the rest, "" when there is none.
	Next string
	// Scanned counts the index's entries read for the page. A page stops
	// after feedScanLimit of them, full or not: filters that match few
	// entries page on with Next rather than reading the whole index.
	Scanned int
}

// Reads per page: records are fetched feedChunk at a time, one round trip
// each, and at most feedScanLimit per page.
const feedChunk, feedScanLimit = 100, 1000

// Feed lists the notifications in state q.State, newest first.
func (s *Store) Feed(ctx context.Context, q FeedQuery) (FeedPage, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	if q.State.finished() {
		return s.feedLog(ctx, q)
	}
	if q.State != FeedPending && q.State != FeedRetrying {
		return FeedPage{}, fmt.Errorf("feed: no state %q", q.State)
	}
	return s.feedInFlight(ctx, q)
}

// keep reports whether the record st belongs on page q: in q's state, and
// matching its filters; at is when it entered the state.
func (q FeedQuery) keep(st Status, at time.Time) bool {
	switch {
	case FeedStateOf(st) != q.State && !(st.State == Active && !q.State.finished()),
		q.Template != "" && st.Template != q.Template,
		!q.From.IsZero() && at.Before(q.From),
		!q.To.IsZero() && !at.Before(q.To):
		return false
	case q.Reason == "":
		return true
	case st.Result == nil:
		return false
	case q.Reason == FeedOtherReasons:
		return st.Result.Reason != ReasonNoGrant && st.Result.Reason != ReasonNotBound
	}
	return st.Result.Reason == q.Reason
}

// records reads the records of the hashes (hex), pipelined: records live
// in different slots. A record past its retention is nil.
func (s *Store) records(ctx context.Context, hashes []string) ([]*Status, error) {
	cmds := make([]*redis.StringCmd, len(hashes))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hashes {
			cmds[i] = p.Get(ctx, s.keys.Record(h))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read the feed's records: %w", err)
	}
	out := make([]*Status, len(hashes))
	for i, cmd := range cmds {
		rec, err := cmd.Result()
		if err != nil {
			continue
		}
		st, err := decode(hashes[i], rec)
		if err != nil {
			return nil, err
		}
		st.ID = st.Template + "-" + hashes[i]
		out[i] = &st
	}
	return out, nil
}

// feedInFlight pages through a sorted set, highest score first; its cursor
// is the last entry read, "<score>.<hash>".
func (s *Store) feedInFlight(ctx context.Context, q FeedQuery) (FeedPage, error) {
	var page FeedPage
	key := s.keys.FeedInFlight(q.State)
	by := redis.ZRangeBy{Max: "+inf", Min: "-inf", Count: feedChunk}
	if !q.To.IsZero() {
		by.Max = "(" + strconv.FormatInt(q.To.UnixMilli(), 10)
	}
	if !q.From.IsZero() {
		by.Min = strconv.FormatInt(q.From.UnixMilli(), 10)
	}
	var after redis.Z
	if q.Cursor != "" {
		score, member, err := parseFeedCursor(q.Cursor)
		if err != nil {
			return FeedPage{}, err
		}
		after = redis.Z{Score: float64(score), Member: member}
		by.Max = strconv.FormatInt(score, 10)
	}
	for page.Scanned < feedScanLimit {
		zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, key, &by).Result()
		if err != nil {
			return FeedPage{}, fmt.Errorf("read the %s feed: %w", q.State, err)
		}
		by.Offset += int64(len(zs))
		var hashes []string
		var entries []redis.Z
		for _, z := range zs {
			member, _ := z.Member.(string)
			// Entries up to the cursor's, at its score, were on the last page.
			if after.Member != nil && z.Score == after.Score && member >= after.Member.(string) || len(member) != 16 {
				continue
			}
			hashes = append(hashes, hex.EncodeToString([]byte(member)))
			entries = append(entries, z)
		}
		sts, err := s.records(ctx, hashes)
		if err != nil {
			return FeedPage{}, err
		}
		for i, st := range sts {
			page.Scanned++
			at := time.UnixMilli(int64(entries[i].Score)).UTC()
			if st != nil && q.keep(*st, at) {
				page.Entries = append(page.Entries, FeedEntry{Status: *st, At: at})
			}
			if len(page.Entries) == q.Limit || page.Scanned == feedScanLimit {
				if i < len(sts)-1 || len(zs) == feedChunk {
					page.Next = strconv.FormatInt(int64(entries[i].Score), 10) + "." + hashes[i]
				}
				return page, nil
			}
		}
		if len(zs) < feedChunk {
			return page, nil
		}
	}
	return page, nil
}

// parseFeedCursor reads an in-flight cursor: a score and a member.
func parseFeedCursor(c string) (int64, string, error) {
	score, h, ok := strings.Cut(c, ".")
	n, err := strconv.ParseInt(score, 10, 64)
	raw, herr := hex.DecodeString(h)
	if !ok || err != nil || n < 0 || herr != nil || len(raw) != 16 {
		return 0, "", ErrBadCursor
	}
	return n, string(raw), nil
}

// feedHour is the layout of an hour in log keys and cursors.
const feedHour = "2006010215"

// feedLog pages back through the hourly logs of a finished class, from the
// newest hour of the query to the oldest, each from its last entry to its
// first. Its cursor is where reading stops: "<hour>" for the whole of that
// hour's log, "<hour>.<bytes>" for the part of it before that offset.
func (s *Store) feedLog(ctx context.Context, q FeedQuery) (FeedPage, error) {
	now := time.Now().UTC()
	top, oldest := now.Truncate(time.Hour), now.Add(-s.retention-2*time.Hour).Truncate(time.Hour)
	if !q.To.IsZero() && q.To.Before(now) {
		top = q.To.Add(-time.Millisecond).UTC().Truncate(time.Hour)
	}
	if !q.From.IsZero() && q.From.After(oldest) {
		oldest = q.From.UTC().Truncate(time.Hour)
	}
	end := int64(-1) // read the top hour from its end
	if q.Cursor != "" {
		hour, off, err := parseLogCursor(q.Cursor)
		if err != nil {
			return FeedPage{}, err
		}
		top, end = hour, off
	}
	var hours []time.Time
	for h := top; !h.Before(oldest); h = h.Add(-time.Hour) {
		hours = append(hours, h)
	}
	// Every hour's length in one round trip: most hours of a quiet app
	// have no log.
	lens := make([]*redis.IntCmd, len(hours))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hours {
			lens[i] = p.StrLen(ctx, s.keys.FeedLog(q.State, h))
		}
		return nil
	}); err != nil {
		return FeedPage{}, fmt.Errorf("read the %s feed: %w", q.State, err)
	}
	const entry = 16
	// next is the cursor after offset off of hour i's log: "" if nothing
	// is left there or in an older hour.
	next := func(i int, off int64) string {
		if off > 0 {
			return hours[i].Format(feedHour) + "." + strconv.FormatInt(off, 10)
		}
		for k := i + 1; k < len(hours); k++ {
			if lens[k].Val() >= entry {
				return hours[k].Format(feedHour)
			}
		}
		return ""
	}
	var page FeedPage
	for i, h := range hours {
		off := lens[i].Val() / entry * entry
		if i == 0 && end >= 0 {
			off = min(off, end)
		}
		for off > 0 {
			n := min(feedChunk, int(off/entry), feedScanLimit-page.Scanned)
			start := off - int64(n*entry)
			raw, err := s.rdb.GetRange(ctx, s.keys.FeedLog(q.State, h), start, off-1).Result()
			if err != nil {
				return FeedPage{}, fmt.Errorf("read the %s feed: %w", q.State, err)
			}
			if len(raw) != n*entry {
				return FeedPage{}, fmt.Errorf("read the %s feed of %s: %d bytes for %d entries", q.State, h.Format(feedHour), len(raw), n)
			}
			hashes := make([]string, n)
			for j := range n { // the newest (last) first
				k := n - 1 - j
				hashes[j] = hex.EncodeToString([]byte(raw[k*entry : (k+1)*entry]))
			}
			sts, err := s.records(ctx, hashes)
			if err != nil {
				return FeedPage{}, err
			}
			for _, st := range sts {
				page.Scanned++
				off -= entry
				// An entry is its record's if the record finished in the
				// entry's hour: an archived notification re-run and
				// finished again is in a later log too.
				if st != nil && !st.CompletedAt.Before(h.Add(-time.Minute)) && st.CompletedAt.Before(h.Add(61*time.Minute)) &&
					q.keep(*st, st.CompletedAt) && !page.listed(st.ID) {
					page.Entries = append(page.Entries, FeedEntry{Status: *st, At: st.CompletedAt})
				}
				if len(page.Entries) == q.Limit {
					break
				}
			}
			if len(page.Entries) == q.Limit || page.Scanned >= feedScanLimit {
				page.Next = next(i, off)
				return page, nil
			}
		}
	}
	return page, nil
}

// listed reports whether notification id is on the page already: a final
// write Redis ran twice (its answer lost) logged it twice.
func (p *FeedPage) listed(id string) bool {
	for _, e := range p.Entries {
		if e.ID == id {
			return true
		}
	}
	return false
}

// parseLogCursor reads a log cursor: an hour, and the offset before which
// its log is still to be read (-1: all of it).
func parseLogCursor(c string) (time.Time, int64, error) {
	hour, off, partial := strings.Cut(c, ".")
	h, err := time.Parse(feedHour, hour)
	if err != nil {
		return time.Time{}, 0, ErrBadCursor
	}
	if !partial {
		return h, -1, nil
	}
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil || n < 0 || n%16 != 0 {
		return time.Time{}, 0, ErrBadCursor
	}
	return h, n, nil
}
