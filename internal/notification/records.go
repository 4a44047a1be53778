package notification

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
)

// Records reads and writes notification records (record.go) for the api
// and the worker.
type Records struct {
	rdb       redis.UniversalClient
	keys      Keys
	retention time.Duration
}

// NewRecords keeps finished records for retention.
func NewRecords(rdb redis.UniversalClient, appID string, retention time.Duration) *Records {
	return &Records{rdb: rdb, keys: NewKeys(appID), retention: retention}
}

// msgTTL bounds how long one side of a msgid's meeting (Keys.Msg) waits
// for the other. WeChat pushes its sent event within seconds of the send; an
// hour covers its retries and a worker that stalls after the send.
const msgTTL = time.Hour

// pendingTTL is how long the record of a notification that has not finished
// is kept: its dedupe window counts from when it finishes, and before that it
// may wait for send_at (at most 30 days) and retry for about a day.
func (r *Records) pendingTTL(p Payload) time.Duration {
	ttl := r.retention + 48*time.Hour
	if p.SendAt != nil {
		ttl += max(0, time.Until(*p.SendAt))
	}
	return ttl
}

// Begin starts an attempt of notification id. done reports that it already
// completed (a redelivery): res is how, and nothing must be sent. The error
// is ErrRecordOnItsWay when the record of a task accepted moments ago is
// not there yet.
func (r *Records) Begin(ctx context.Context, id string, p Payload, maxRetry int) (done bool, res Result, err error) {
	call := r.BeginCall(id, p, maxRetry)
	_ = redisconn.RunScripts(ctx, r.rdb, call)
	return BeginResult(call)
}

// ErrRecordOnItsWay: the record of a task accepted moments ago is missing.
// The api queues the task and writes the record in one round trip, the
// record first — except once after Redis lost its scripts, when the record
// goes right after. Its attempt should wait a moment rather than write the
// record from the task.
var ErrRecordOnItsWay = errors.New("the notification's record is not written yet")

// recordGrace is how long after its acceptance a task's missing record is
// taken to be on its way rather than lost. The api writes it within a
// round trip; a clock of the worker behind the api's by more than this
// makes such a task write the record itself, as before.
const recordGrace = 5 * time.Second

// BeginCall is Begin as a script call, for a caller that makes it in one
// round trip with calls of its own (redisconn.RunScripts); BeginResult
// reads its answer.
func (r *Records) BeginCall(id string, p Payload, maxRetry int) *redisconn.ScriptCall {
	young := time.Since(p.CreatedAt) < recordGrace
	return &redisconn.ScriptCall{Script: beginAttempt, Keys: []string{r.keys.Record(id)},
		Args: []any{newRecord(p, maxRetry), seconds(r.pendingTTL(p)), flag(young)}}
}

// BeginResult is Begin's answer from a call made with BeginCall.
func BeginResult(call *redisconn.ScriptCall) (done bool, res Result, err error) {
	v, err := call.Cmd.StringSlice()
	if err != nil {
		return false, Result{}, fmt.Errorf("begin attempt: %w", err)
	}
	switch {
	case len(v) == 4 && v[0] == "done":
		return true, Result{Status: v[1], Reason: v[2], MsgID: v[3]}, nil
	case len(v) == 1 && v[0] == "wait":
		return false, Result{}, ErrRecordOnItsWay
	}
	return false, Result{}, nil
}

// Retry records an attempt that will run again at next. counts is false for
// a deferral that WeChat's quota or our limiter imposed. extra calls (an
// outcome count) share its round trip.
func (r *Records) Retry(ctx context.Context, id, lastErr string, next time.Time, outcome string, errcode int, counts bool, extra ...*redisconn.ScriptCall) error {
	call := &redisconn.ScriptCall{Script: retryAttempt, Keys: []string{r.keys.Record(id)},
		Args: []any{time.Now().Unix(), clean(lastErr, maxErrorLen), next.Unix(), outcome, errcode, flag(counts)}}
	_ = redisconn.RunScripts(ctx, r.rdb, append([]*redisconn.ScriptCall{call}, extra...)...)
	if err := call.Cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("record retry: %w", err)
	}
	return nil
}

// Finish records how notification id ended: completed with res, or
// archived with lastErr. The record is kept for the retention from now.
// extra calls (an outcome count) share its round trip; their answers are
// the caller's to read.
func (r *Records) Finish(ctx context.Context, id string, p Payload, maxRetry int, state string, res Result, lastErr, outcome string, errcode int, extra ...*redisconn.ScriptCall) error {
	call := &redisconn.ScriptCall{Script: finishAttempt, Keys: []string{r.keys.Record(id)},
		Args: []any{time.Now().Unix(), state, res.Status, res.Reason, res.MsgID, clean(lastErr, maxErrorLen), outcome, errcode,
			seconds(r.retention), newRecord(p, maxRetry)}}
	_ = redisconn.RunScripts(ctx, r.rdb, append([]*redisconn.ScriptCall{call}, extra...)...)
	if err := call.Cmd.Err(); err != nil {
		return fmt.Errorf("record outcome: %w", err)
	}
	return nil
}

// Delivered links msgid to notification id for WeChat's sent event, and
// applies the event if it came first.
func (r *Records) Delivered(ctx context.Context, id, msgid string) error {
	call := r.DeliveredCall(id, msgid)
	_ = redisconn.RunScripts(ctx, r.rdb, call)
	return r.DeliveredResult(ctx, id, call)
}

// DeliveredCall is Delivered's link as a script call, for a caller that
// makes it in one round trip with calls of its own; DeliveredResult reads
// its answer and applies an event that came first.
func (r *Records) DeliveredCall(id, msgid string) *redisconn.ScriptCall {
	return &redisconn.ScriptCall{Script: meet, Keys: []string{r.keys.Msg(msgid)}, Args: []any{"id", id, "event", seconds(msgTTL)}}
}

// DeliveredResult finishes a call made with DeliveredCall for notification id.
func (r *Records) DeliveredResult(ctx context.Context, id string, call *redisconn.ScriptCall) error {
	status, err := call.Cmd.Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil // the event has not come yet
	case err != nil:
		return fmt.Errorf("link msgid: %w", err)
	}
	return r.setWeChat(ctx, id, status)
}

// WeChatResult is what subscribe_msg_sent_event said about a delivered message.
type WeChatResult struct {
	ErrorCode   int       `json:"error_code"`
	ErrorStatus string    `json:"error_status"`
	At          time.Time `json:"at"`
}

// RecordWeChatResult applies WeChat's final status of message msgid to the
// notification that delivered it — now, if the worker has linked the msgid,
// or when it does: WeChat gives no ordering between its push and its answer
// to the send.
func (r *Records) RecordWeChatResult(ctx context.Context, msgid string, w WeChatResult) error {
	// The status goes into a comma-separated field: no commas inside.
	status := strconv.Itoa(w.ErrorCode) + "," + noComma(clean(w.ErrorStatus, 64)) + "," + strconv.FormatInt(w.At.Unix(), 10)
	id, err := meet.Run(ctx, r.rdb, []string{r.keys.Msg(msgid)}, "event", status, "id", seconds(msgTTL)).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil // kept until the worker links the msgid
	case err != nil:
		return fmt.Errorf("record WeChat result of msgid %s: %w", msgid, err)
	}
	return r.setWeChat(ctx, id, status)
}

func (r *Records) setWeChat(ctx context.Context, id, status string) error {
	if err := setWeChat.Run(ctx, r.rdb, []string{r.keys.Record(id)}, status).Err(); err != nil {
		return fmt.Errorf("record WeChat result of %s: %w", id, err)
	}
	return nil
}

func seconds(d time.Duration) int64 { return int64(max(d, time.Second) / time.Second) }

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func noComma(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == ',' || c == ';' {
			b[i] = ' '
		}
	}
	return string(b)
}
