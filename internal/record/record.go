// Package record is a notification's record: wxnotify's own account of one
// notification from its acceptance to WeChat's last word — the unit of
// dedupe, status and history — with its Redis keys, the Lua scripts that
// change it, and the reads the api and the console answer from it.
//
// asynq holds a notification's task only while it is in flight (queued,
// scheduled, retrying, running, archived) and forgets it when it completes;
// the record stays for the retention, and so does the dedupe decision.
package record

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"wxnotify/internal/task"
)

// A record is one Redis string of fields joined by the ASCII unit separator
// (0x1f), in the order of the field constants below: about 150 bytes for a
// delivered notification.
//
// Why a joined string and not a Redis hash or a JSON value: MEMORY USAGE of
// the same delivered record (its times still Unix seconds) was 280 bytes as
// this string, 312 as a hash even with one-letter field names (more with
// readable ones), and 344 as JSON — and the service keeps one per
// notification for a week at 10–30 M a day, within a budget of 400 bytes
// per retained notification, every index included. The fields still have
// names wherever code touches them: Go uses the constants, and the Lua
// scripts a table F of the same names generated from them (luaFields), so
// no script counts positions by hand.
//
// No field may hold 0x1f: dedupe keys and user ids refuse control
// characters, and free texts are cleaned (clean) before they are stored.
//
// Every time but the acceptance is stored as seconds after the acceptance's
// second (at, timeField): "0" where the absolute Unix time takes ten
// digits. A delivered record holds three such times (completed at,
// WeChat's sent event, its history entry), and WeChat's status is left out
// when it is "success" with errcode 0, the status of every delivered
// message: 34 bytes fewer, which takes the record's string for a 28-character
// openid and a 19-character dedupe key from jemalloc's 192-byte class to
// its 160-byte one. A time of 10^9 or more is absolute Unix seconds, as
// records written before stored them all, so those still read as they
// were.
const (
	fVersion = iota
	fState
	fUser
	fTemplate
	fDedupe
	fCreated // Unix milliseconds
	fSendAt  // seconds after created (timeField), or empty
	fMaxRetry
	fAttempts
	fResult // delivered | skipped, or empty
	fReason
	fMsgID
	fLastError
	fLastFailedAt // seconds after created (timeField)
	fNextAt       // seconds after created
	fCompletedAt  // seconds after created
	fWeChat       // errcode,status,seconds after created; status empty for errcode 0 "success"
	fHistory      // seconds after created,outcome,errcode;… oldest first, at most historyLen
	// Version 2 added the two below; a version 1 record reads them empty.
	fChannel    // the channel that delivered: empty for a subscribe message, or "order"
	fOrderState // the WeChat Pay order's state as WeChat last reported it (1–6), or empty
	nFields
)

// v1Fields is how many fields a version 1 record has.
const v1Fields = fHistory + 1

// fieldNames names the fields for the Lua scripts (luaFields).
var fieldNames = [nFields]string{
	fVersion: "version", fState: "state", fUser: "user", fTemplate: "template", fDedupe: "dedupe",
	fCreated: "created", fSendAt: "send_at", fMaxRetry: "max_retry", fAttempts: "attempts",
	fResult: "result", fReason: "reason", fMsgID: "msgid", fLastError: "last_error",
	fLastFailedAt: "last_failed_at", fNextAt: "next_at", fCompletedAt: "completed_at",
	fWeChat: "wechat", fHistory: "history", fChannel: "channel", fOrderState: "order_state",
}

// luaFields is the Lua table F of the field positions by name (Lua counts
// from 1): scripts read a split record as f[F.state], f[F.history], ….
func luaFields() string {
	var b strings.Builder
	b.WriteString("local F = {")
	for i, name := range fieldNames {
		fmt.Fprintf(&b, "%s = %d, ", name, i+1)
	}
	b.WriteString("}\n")
	return b.String()
}

const (
	recordVersion = "2"
	sep           = "\x1f"
	// historyLen bounds the attempt history a record keeps: the first
	// attempts and the last ones tell the story; a notification retried a
	// day long keeps its newest historyLen.
	historyLen = 8
	// maxErrorLen bounds the stored last error (WeChat's errmsg is short;
	// transport errors can be long).
	maxErrorLen = 160
)

// State is where a notification stands. The names are the API's: an order
// service reads them in GET /v1/notifications/{id}.
type State string

// The states of a record, and what moves it (docs/delivery.md has the
// diagram): the api creates it pending (scheduled with a send_at); each
// attempt makes it active; an attempt that will be tried again leaves it
// retry; the last one leaves it completed (delivered or skipped) or
// archived (failed for good).
const (
	Pending   State = "pending"
	Scheduled State = "scheduled"
	Active    State = "active"
	Retry     State = "retry"
	Completed State = "completed"
	Archived  State = "archived"
)

// Finished reports whether nothing more will happen to the notification.
func (s State) Finished() bool { return s == Completed || s == Archived }

// Result is how a completed notification ended.
type Result struct {
	// Status is Delivered or Skipped.
	Status string `json:"status"`
	// MsgID is WeChat's message id (delivered), a 64-bit integer as a string.
	MsgID string `json:"msgid,omitempty"`
	// Reason says why it was skipped: not_bound, no_grant, probably_delivered, unsubscribed, already_reminded.
	Reason string `json:"reason,omitempty"`
	// Channel is "order" when WeChat's order shipping service delivered
	// it, empty for a subscribe message.
	Channel string `json:"channel,omitempty"`
}

// Result statuses and skip reasons.
const (
	Delivered = "delivered"
	Skipped   = "skipped"

	ReasonNotBound          = "not_bound"
	ReasonNoGrant           = "no_grant"
	ReasonProbablyDelivered = "probably_delivered"
	ReasonUnsubscribed      = "unsubscribed"
	// ReasonAlreadyReminded: the order channel's one receipt reminder for
	// the WeChat Pay order went out before (WeChat allows one per order).
	ReasonAlreadyReminded = "already_reminded"
)

// Attempt is one entry of a notification's history.
type Attempt struct {
	At time.Time `json:"at"`
	// Outcome is the attempt's outcome as the worker logs it ("delivered",
	// "retried_timeout", "archived_permanent", …).
	Outcome string `json:"outcome"`
	ErrCode int    `json:"errcode,omitempty"`
}

// WeChatResult is what subscribe_msg_sent_event said about a delivered message.
type WeChatResult struct {
	ErrorCode   int       `json:"error_code"`
	ErrorStatus string    `json:"error_status"`
	At          time.Time `json:"at"`
}

// Status is what is known about one notification.
type Status struct {
	ID        string
	UserID    string
	Template  string
	DedupeKey string
	State     State
	// Attempts counts the sends tried (waits for a WeChat quota are not attempts).
	Attempts      int
	MaxRetry      int
	LastError     string
	LastFailedAt  time.Time
	NextProcessAt time.Time
	CompletedAt   time.Time
	CreatedAt     time.Time
	SendAt        *time.Time
	Result        *Result
	// WeChat is WeChat's final word on the delivery, from its
	// subscribe_msg_sent_event push, once it has come.
	WeChat *WeChatResult
	// History is the notification's last attempts, oldest first, and
	// WeChat's word on its order (order_shipped, order_confirmed, …).
	History []Attempt
	// OrderState is the WeChat Pay order's state as WeChat last reported
	// it (OrderStates), 0 before it did.
	OrderState int
}

// OrderStates name the order states of WeChat's order shipping service.
var OrderStates = map[int]string{1: "awaiting_shipment", 2: "shipped", 3: "receipt_confirmed", 4: "completed", 5: "refunded", 6: "awaiting_settlement"}

// New is what a record starts from: the notification as accepted.
type New struct {
	User, Template, DedupeKey string
	Created                   time.Time
	SendAt                    *time.Time
	MaxRetry                  int
	// Order names the WeChat Pay order of a notification that has one
	// (OrderName); it is not stored in the record.
	Order string
}

// encode is the stored form of a record just accepted.
func (n New) encode() string {
	f := make([]string, nFields)
	f[fVersion] = recordVersion
	f[fState] = string(Pending)
	if n.SendAt != nil {
		f[fState] = string(Scheduled)
		f[fSendAt] = timeField(n.Created, *n.SendAt)
		f[fNextAt] = f[fSendAt]
	}
	f[fUser] = n.User
	f[fTemplate] = n.Template
	f[fDedupe] = n.DedupeKey
	f[fCreated] = strconv.FormatInt(n.Created.UnixMilli(), 10)
	f[fMaxRetry] = strconv.Itoa(n.MaxRetry)
	f[fAttempts] = "0"
	return strings.Join(f, sep)
}

// decode reads a stored record into the status of notification id.
func decode(id, s string) (Status, error) {
	f := strings.Split(s, sep)
	if f[0] == "1" && len(f) == v1Fields {
		f = append(f, make([]string, nFields-v1Fields)...) // written before version 2
	} else if len(f) != nFields || f[fVersion] != recordVersion {
		return Status{}, fmt.Errorf("notification %s: record of %d fields, version %q", id, len(f), f[fVersion])
	}
	st := Status{
		ID: id, State: State(f[fState]), UserID: f[fUser], Template: f[fTemplate], DedupeKey: f[fDedupe],
		LastError: f[fLastError],
	}
	st.OrderState, _ = strconv.Atoi(f[fOrderState])
	if ms, err := strconv.ParseInt(f[fCreated], 10, 64); err == nil {
		st.CreatedAt = time.UnixMilli(ms).UTC()
	}
	at := func(v string) time.Time { return at(st.CreatedAt, v) }
	st.LastFailedAt, st.NextProcessAt, st.CompletedAt = at(f[fLastFailedAt]), at(f[fNextAt]), at(f[fCompletedAt])
	st.Attempts, _ = strconv.Atoi(f[fAttempts])
	st.MaxRetry, _ = strconv.Atoi(f[fMaxRetry])
	if t := at(f[fSendAt]); !t.IsZero() {
		st.SendAt = &t
	}
	if f[fResult] != "" {
		st.Result = &Result{Status: f[fResult], MsgID: f[fMsgID], Reason: f[fReason], Channel: f[fChannel]}
	}
	if w := strings.SplitN(f[fWeChat], ",", 3); len(w) == 3 {
		code, _ := strconv.Atoi(w[0])
		if code == 0 && w[1] == "" {
			w[1] = weChatSuccess
		}
		st.WeChat = &WeChatResult{ErrorCode: code, ErrorStatus: w[1], At: at(w[2])}
	}
	for _, h := range strings.Split(f[fHistory], ";") {
		if e := strings.SplitN(h, ",", 3); len(e) == 3 {
			code, _ := strconv.Atoi(e[2])
			st.History = append(st.History, Attempt{At: at(e[0]), Outcome: e[1], ErrCode: code})
		}
	}
	return st, nil
}

// weChatSuccess is the sent event's status of a delivered message (errcode
// 0), which the record leaves out.
const weChatSuccess = "success"

// absolute is where stored times stop being seconds after the record's
// acceptance and are Unix seconds (2001-09-09): no notification waits or
// retries 31 years, and every Unix time a record ever stored is above it.
const absolute = 1_000_000_000

// timeField is t as a record stores it: seconds after created's second.
// The scripts store times the same way (luaRecord's rel).
func timeField(created, t time.Time) string { return strconv.FormatInt(t.Unix()-created.Unix(), 10) }

// at reads a stored time of a record accepted at created: seconds after
// created's second, or Unix seconds (absolute and above); zero when empty.
func at(created time.Time, s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return time.Time{}
	case n >= absolute:
		return time.Unix(n, 0).UTC()
	default:
		return time.Unix(created.Unix()+n, 0).UTC()
	}
}

// clean makes a free text safe to store in a record field: no separators,
// no control characters, at most max bytes (cut on a rune boundary).
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// noComma keeps a text out of a comma- or semicolon-separated field.
func noComma(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ',' || r == ';' {
			return ' '
		}
		return r
	}, s)
}

// From is the record notification p starts from; maxRetry is its task's.
func From(p task.Payload, maxRetry int) New {
	n := New{User: p.Receiver(), Template: p.Template, DedupeKey: p.DedupeKey, Created: p.CreatedAt, SendAt: p.SendAt, MaxRetry: maxRetry}
	if o := p.Order; o != nil {
		n.Order = OrderName(o.TransactionID, o.MchID, o.OutTradeNo)
	}
	return n
}
