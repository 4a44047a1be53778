package delivery

import (
	"log/slog"
	"time"

	"wxnotify/internal/record"
)

// verdict is what one attempt decided for its notification.
type verdict int

const (
	// delivered: WeChat took the message. The notification is completed.
	delivered verdict = iota + 1
	// skipped: there is nothing to send — no openid, no grant, the
	// template turned off. The notification is completed.
	skipped
	// retrying: a failure that may pass (WeChat busy, a timeout, Redis
	// away). Tried again after a back-off; it spends one of the task's
	// retries.
	retrying
	// deferred: a wait imposed on us (WeChat's quota, our send rate, a
	// refused app secret). Tried again after exactly that wait; it spends
	// no retry.
	deferred
	// archived: a failure that cannot pass, or the retries are spent.
	archived
	// alreadyFinished: an earlier run of the task finished the
	// notification (a redelivery after a crash). Nothing is sent or
	// written.
	alreadyFinished
	// claimHeld: another run of the same task holds its claim and may be
	// sending now. This run waits for it to end; the record is the holder's
	// to write.
	claimHeld
)

// outcome is how one attempt ended, as the step that decided it says: act
// carries it out (the grant, the record, the count, the log line, the
// metric, and what asynq is told).
type outcome struct {
	verdict verdict
	// reason is the one-word why: "no_grant", "timeout", "permanent", …
	// With the verdict it names the outcome (name) in log lines, metrics
	// and the record's history.
	reason string
	// result is how a delivered or skipped notification ended.
	result record.Result
	// errcode is WeChat's errcode, when WeChat gave one.
	errcode int
	// wait is, for deferred and claimHeld, how long to wait; for retrying,
	// the least wait WeChat's answer asks for (0: the back-off alone).
	wait time.Duration
	// grantBack: a grant this run claimed goes back, since WeChat did not
	// spend it. False when the grant is spent, or when the claim was a dead
	// run's that may have spent it.
	grantBack bool
	// ambiguous: WeChat may have acted on the send though we got no
	// answer; a later 43101 then reads as probably delivered.
	ambiguous bool
	// zeroGrant: WeChat says the user has no grant left (43101): the count
	// is set to zero.
	zeroGrant bool
	// answered is when WeChat answered a delivered send.
	answered time.Time
	// err is the cause of a failure or a wait.
	err   error
	level slog.Level
}

// The outcomes, by the steps that decide them.

func deliveredAs(msgid string) outcome {
	return outcome{verdict: delivered, result: record.Result{Status: record.Delivered, MsgID: msgid}, answered: time.Now(), level: slog.LevelInfo}
}

func skippedFor(reason string, errcode int) outcome {
	level := slog.LevelInfo
	if reason == record.ReasonNoGrant || reason == record.ReasonProbablyDelivered {
		level = slog.LevelDebug // the most common outcome of all: most users grant nothing
	}
	return outcome{verdict: skipped, reason: reason, errcode: errcode, result: record.Result{Status: record.Skipped, Reason: reason}, level: level}
}

func retryFor(reason string, errcode int, atLeast time.Duration, err error) outcome {
	return outcome{verdict: retrying, reason: reason, errcode: errcode, wait: atLeast, grantBack: true, err: err, level: slog.LevelWarn}
}

func deferFor(reason string, errcode int, wait time.Duration, err error) outcome {
	return outcome{verdict: deferred, reason: reason, errcode: errcode, wait: wait, grantBack: true, err: err, level: slog.LevelWarn}
}

func archiveFor(reason string, errcode int, err error) outcome {
	return outcome{verdict: archived, reason: reason, errcode: errcode, grantBack: true, err: err, level: slog.LevelError}
}

// name is the outcome as log lines, the wxnotify_deliveries_total metric
// and the record's history show it: "delivered", "skipped_no_grant",
// "retried_timeout", "archived_permanent", …
func (o outcome) name() string {
	switch o.verdict {
	case delivered:
		if o.reason != "" {
			return "delivered_" + o.reason // delivered_order: through WeChat's order channel
		}
		return "delivered"
	case skipped:
		return "skipped_" + o.reason
	case retrying, deferred:
		return "retried_" + o.reason
	case archived:
		return "archived_" + o.reason
	case alreadyFinished:
		return "skipped_already_finished"
	case claimHeld:
		return "retried_claim_held"
	}
	return "unknown"
}

// class is the outcome's class in the console's counts; "" for one that
// is not counted (a redelivery: its first run counted it).
func (o outcome) class() record.Class {
	switch o.verdict {
	case delivered:
		return record.ClassDelivered
	case skipped:
		switch o.reason {
		case record.ReasonNoGrant:
			return record.ClassSkippedNoGrant
		case record.ReasonNotBound:
			return record.ClassSkippedUnbound
		}
		return record.ClassSkippedOther
	case retrying, deferred:
		return record.ClassRetrying
	case archived:
		return record.ClassArchived
	}
	return ""
}

// exhausted is o when the task has no retry left: asynq archives a task
// whose failures reached its MaxRetry, whatever error it returns next, so
// the attempt says so itself — in the record, the count and the log line —
// and tells asynq (SkipRetry).
func (o outcome) exhausted() outcome {
	o.verdict, o.level = archived, slog.LevelError
	return o
}
