package notification

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A notification's record is wxnotify's own account of it: the unit of
// dedupe, status and history. asynq holds the task only while it is in
// flight (queued, scheduled, retrying, running) and forgets it when it
// completes; the record stays for the retention.
//
// It is one Redis string of fields separated by the ASCII unit separator
// (0x1f), in a fixed order: about 200 bytes for a delivered notification,
// against the ~1.9 KB that asynq's retained task and its markers took. No
// field may hold 0x1f: dedupe keys and user ids refuse control characters,
// and errors are cleaned before they are stored. The Lua scripts in
// scripts.go update it in place by the same positions.

// Record field positions (0-based here; Lua's are one more).
const (
	fVersion = iota
	fState
	fUser
	fTemplate
	fDedupe
	fCreated // Unix milliseconds
	fSendAt  // Unix seconds, or empty
	fMaxRetry
	fAttempts
	fResult // delivered | skipped, or empty
	fReason
	fMsgID
	fLastError
	fLastFailedAt // Unix seconds
	fNextAt       // Unix seconds
	fCompletedAt  // Unix seconds
	fWeChat       // errcode,status,unix seconds
	fHistory      // unix,outcome,errcode;… oldest first, at most historyLen
	nFields
)

const (
	recordVersion = "1"
	sep           = "\x1f"
	// historyLen bounds the attempt history a record keeps: the first
	// attempts and the last ones tell the story; a notification retried a
	// day long keeps its newest historyLen.
	historyLen = 8
	// maxErrorLen bounds the stored last error (WeChat's errmsg is short;
	// transport errors can be long).
	maxErrorLen = 160
)

// Record states, as the status shows them.
const (
	StatePending   = "pending"
	StateScheduled = "scheduled"
	StateActive    = "active"
	StateRetry     = "retry"
	StateCompleted = "completed"
	StateArchived  = "archived"
)

// Attempt is one entry of a notification's history.
type Attempt struct {
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
	ErrCode int       `json:"errcode,omitempty"`
}

// newRecord is the record of a notification just accepted.
func newRecord(p Payload, maxRetry int) string {
	f := make([]string, nFields)
	f[fVersion] = recordVersion
	f[fState] = StatePending
	if p.SendAt != nil {
		f[fState] = StateScheduled
		f[fSendAt] = strconv.FormatInt(p.SendAt.Unix(), 10)
		f[fNextAt] = f[fSendAt]
	}
	f[fUser] = p.UserID
	if f[fUser] == "" {
		f[fUser] = p.OpenID
	}
	f[fTemplate] = p.Template
	f[fDedupe] = p.DedupeKey
	f[fCreated] = strconv.FormatInt(p.CreatedAt.UnixMilli(), 10)
	f[fMaxRetry] = strconv.Itoa(maxRetry)
	f[fAttempts] = "0"
	return strings.Join(f, sep)
}

// parseRecord reads a stored record into the status of notification id.
func parseRecord(id, s string) (Status, error) {
	f := strings.Split(s, sep)
	if len(f) != nFields || f[fVersion] != recordVersion {
		return Status{}, fmt.Errorf("notification %s: record of %d fields, version %q", id, len(f), f[fVersion])
	}
	st := Status{
		ID: id, State: f[fState], UserID: f[fUser], Template: f[fTemplate], DedupeKey: f[fDedupe],
		LastError: f[fLastError], LastFailedAt: unixTime(f[fLastFailedAt]), NextProcessAt: unixTime(f[fNextAt]),
		CompletedAt: unixTime(f[fCompletedAt]),
	}
	st.Attempts, _ = strconv.Atoi(f[fAttempts])
	st.MaxRetry, _ = strconv.Atoi(f[fMaxRetry])
	if ms, err := strconv.ParseInt(f[fCreated], 10, 64); err == nil {
		st.CreatedAt = time.UnixMilli(ms).UTC()
	}
	if at := unixTime(f[fSendAt]); !at.IsZero() {
		st.SendAt = &at
	}
	if f[fResult] != "" {
		st.Result = &Result{Status: f[fResult], MsgID: f[fMsgID], Reason: f[fReason]}
	}
	if w := strings.SplitN(f[fWeChat], ",", 3); len(w) == 3 {
		code, _ := strconv.Atoi(w[0])
		st.WeChat = &WeChatResult{ErrorCode: code, ErrorStatus: w[1], At: unixTime(w[2])}
	}
	for _, h := range strings.Split(f[fHistory], ";") {
		if e := strings.SplitN(h, ",", 3); len(e) == 3 {
			code, _ := strconv.Atoi(e[2])
			st.History = append(st.History, Attempt{At: unixTime(e[0]), Outcome: e[1], ErrCode: code})
		}
	}
	return st, nil
}

func unixTime(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
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
