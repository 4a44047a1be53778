package record

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
)

// Store reads and writes the records of one mini program.
type Store struct {
	rdb       redis.UniversalClient
	keys      Keys
	retention time.Duration
	// feedLen bounds each in-flight set of the feed (feedInFlightLen).
	feedLen int
}

// NewStore keeps finished records for retention: a finished
// notification's dedupe window.
func NewStore(rdb redis.UniversalClient, appID string, retention time.Duration) *Store {
	return &Store{rdb: rdb, keys: NewKeys(appID), retention: retention, feedLen: feedInFlightLen}
}

// Keys are the store's key names.
func (s *Store) Keys() Keys { return s.keys }

// msgTTL bounds how long one side of a msgid's meeting (Keys.Msg) waits
// for the other. WeChat pushes its sent event within seconds of the send; an
// hour covers its retries and a worker that stalls after the send.
const msgTTL = time.Hour

// userListLen is how many recent notifications a user's list keeps at
// least; it prunes back to that many once it holds listSlack more (besides
// the binding's own few fields).
const userListLen, listSlack = 100, 16

// pendingTTL is how long the record of a notification that has not finished
// is kept: its dedupe window counts from when it finishes, and before that it
// may wait for send_at (at most 30 days) and retry for about a day.
func (s *Store) pendingTTL(n New) time.Duration {
	ttl := s.retention + 48*time.Hour
	if n.SendAt != nil {
		ttl += max(0, time.Until(*n.SendAt))
	}
	return ttl
}

// Create stores notification id's record unless one exists — the dedupe
// decision — and lists it in its user's hash, under its WeChat Pay order
// for one that has one (WeChat's trade events may come before the worker
// is done), and in the feed's pending set, in one round trip. created is
// false for a repeat: st is then the existing record. A repeat naming
// another user leaves that user an entry the listing skips (the record
// names its user).
func (s *Store) Create(ctx context.Context, id string, n New) (created bool, st Status, err error) {
	// Microseconds: notifications posted in one millisecond still list in
	// the order they came.
	cutoff := time.Now().Add(-s.pendingTTL(n)).UnixMicro()
	create := &redisconn.ScriptCall{Script: createRecord, Keys: []string{s.keys.Record(id)}, Args: []any{n.encode(), redisconn.Seconds(s.pendingTTL(n))}}
	list := &redisconn.ScriptCall{Script: listNotification, Keys: []string{s.keys.UserList(n.User)},
		Args: []any{listField(id), n.Created.UnixMicro(), userListLen, cutoff, listSlack}}
	calls := []*redisconn.ScriptCall{create, list}
	if n.Order != "" {
		calls = append(calls, s.IndexOrderCall(id, n.Order))
	}
	member := feedMember(id)
	if member != "" {
		calls = append(calls, s.feedMoveCall(id, member, FeedPending, n.Created))
	}
	if err := redisconn.RunScripts(ctx, s.rdb, calls...); err != nil {
		return false, Status{}, fmt.Errorf("create record of %s: %w", id, err)
	}
	v, err := create.Cmd.Slice()
	if err != nil {
		return false, Status{}, fmt.Errorf("create record of %s: %w", id, err)
	}
	isNew, _ := v[0].(int64)
	stored, _ := v[1].(string)
	if st, err = decode(id, stored); err != nil {
		return false, Status{}, err
	}
	if isNew == 0 && member != "" && !redisconn.OneNode(s.rdb) && FeedStateOf(st) != FeedPending {
		// On a Cluster the feed's call could not read the record, and
		// listed a repeat of a notification that is pending no longer. A
		// round trip for such a repeat alone (it queues nothing); should
		// it fail, the feed's reader skips the entry.
		_ = s.rdb.ZRem(ctx, s.keys.FeedInFlight(FeedPending), member).Err()
	}
	return isNew == 1, st, nil
}

// Begin is the start of an attempt, as a script call that shares a round
// trip with the caller's own (redisconn.RunScripts); Done reads its answer.
type Begin struct{ Call *redisconn.ScriptCall }

// BeginCall starts an attempt of notification id: its record shows it
// active, and is written from n if it is missing.
func (s *Store) BeginCall(id string, n New) Begin {
	return Begin{&redisconn.ScriptCall{Script: beginAttempt, Keys: []string{s.keys.Record(id)}, Args: []any{n.encode(), redisconn.Seconds(s.pendingTTL(n))}}}
}

// Done reports that the notification completed already (a redelivery):
// res is how, and nothing must be sent.
func (b Begin) Done() (done bool, res Result, err error) {
	v, err := b.Call.Cmd.StringSlice()
	if err != nil {
		return false, Result{}, fmt.Errorf("begin attempt: %w", err)
	}
	if len(v) == 4 && v[0] == "done" {
		return true, Result{Status: v[1], Reason: v[2], MsgID: v[3]}, nil
	}
	return false, Result{}, nil
}

// Step is what one attempt adds to a record: its entry in the history
// and, for a failure, the error it leaves as the last one.
type Step struct {
	Outcome string
	ErrCode int
	Error   string
}

// RetryCall records an attempt of notification id that will run again at
// next; counts is false for a deferral, which is not an attempt. It
// leaves a completed record alone.
func (s *Store) RetryCall(id string, st Step, next time.Time, counts bool) *redisconn.ScriptCall {
	return &redisconn.ScriptCall{Script: retryAttempt, Keys: []string{s.keys.Record(id)},
		Args: []any{time.Now().Unix(), clean(st.Error, maxErrorLen), next.Unix(), st.Outcome, st.ErrCode, redisconn.Flag(counts)}}
}

// FinishCall records how notification id ended — Completed with res, or
// Archived — and keeps the record for the retention from now. n is what
// the record is written from if it is missing.
func (s *Store) FinishCall(id string, n New, state State, res Result, st Step) *redisconn.ScriptCall {
	return &redisconn.ScriptCall{Script: finishAttempt, Keys: []string{s.keys.Record(id)},
		Args: []any{time.Now().Unix(), string(state), res.Status, res.Reason, res.MsgID, clean(st.Error, maxErrorLen),
			st.Outcome, st.ErrCode, redisconn.Seconds(s.retention), n.encode(), res.Channel}}
}

// OrderStateCall records the order state WeChat reported for notification
// id's WeChat Pay order, once per state.
func (s *Store) OrderStateCall(id string, state int, at time.Time) *redisconn.ScriptCall {
	name := OrderStates[state]
	if name == "" {
		name = "state_" + strconv.Itoa(state)
	}
	return &redisconn.ScriptCall{Script: setOrderState, Keys: []string{s.keys.Record(id)}, Args: []any{at.Unix(), state, name}}
}

// Link is a delivered msgid's half of its meeting with WeChat's sent
// event, as a script call; Apply finishes it.
type Link struct {
	id   string
	Call *redisconn.ScriptCall
}

// LinkCall links msgid to notification id for WeChat's sent event.
func (s *Store) LinkCall(id, msgid string) Link {
	return Link{id: id, Call: &redisconn.ScriptCall{Script: meet, Keys: []string{s.keys.Msg(msgid)}, Args: []any{"id", id, "event", redisconn.Seconds(msgTTL)}}}
}

// Apply applies WeChat's sent event to the record if the event came first.
func (s *Store) Apply(ctx context.Context, l Link) error {
	status, err := l.Call.Cmd.Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil // the event has not come yet
	case err != nil:
		return fmt.Errorf("link msgid: %w", err)
	}
	return s.setWeChat(ctx, l.id, status)
}

// RecordWeChatResult applies WeChat's final status of message msgid to the
// notification that delivered it — now, if the worker has linked the msgid,
// or when it does: WeChat gives no ordering between its push and its answer
// to the send.
func (s *Store) RecordWeChatResult(ctx context.Context, msgid string, w WeChatResult) error {
	// The status goes into a comma-separated field: no commas inside.
	status := strconv.Itoa(w.ErrorCode) + "," + noComma(clean(w.ErrorStatus, 64)) + "," + strconv.FormatInt(w.At.Unix(), 10)
	id, err := meet.Run(ctx, s.rdb, []string{s.keys.Msg(msgid)}, "event", status, "id", redisconn.Seconds(msgTTL)).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil // kept until the worker links the msgid
	case err != nil:
		return fmt.Errorf("record WeChat result of msgid %s: %w", msgid, err)
	}
	return s.setWeChat(ctx, id, status)
}

func (s *Store) setWeChat(ctx context.Context, id, status string) error {
	if err := setWeChat.Run(ctx, s.rdb, []string{s.keys.Record(id)}, status).Err(); err != nil {
		return fmt.Errorf("record WeChat result of %s: %w", id, err)
	}
	return nil
}

// ErrNotFound is returned for a notification id that does not exist (never
// accepted, or past its retention).
var ErrNotFound = errors.New("notification not found")

// Status reads notification id's record.
func (s *Store) Status(ctx context.Context, id string) (Status, error) {
	stored, err := s.rdb.Get(ctx, s.keys.Record(id)).Result()
	if errors.Is(err, redis.Nil) {
		return Status{}, ErrNotFound
	}
	if err != nil {
		return Status{}, fmt.Errorf("read notification %s: %w", id, err)
	}
	return decode(id, stored)
}
