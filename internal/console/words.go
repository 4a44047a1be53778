package console

import (
	"fmt"
	"strings"
	"time"

	"wxnotify/internal/record"
	"wxnotify/internal/wechat"
)

// The console says what an outcome means in a few plain words beside its
// code: the codes are exact and searchable in logs and metrics, the words
// are what an operator on call reads first. Outcome names are the worker's
// (delivery's outcome.name: "delivered", "skipped_<reason>",
// "retried_<reason>", "archived_<reason>") and the order channel's order
// states ("order_<state>"); an errcode is put in words by wechat.Explain.

// skipWords say why nothing was sent, by skip reason.
var skipWords = map[string]string{
	record.ReasonNoGrant:           "the user holds no grant for this template",
	record.ReasonNotBound:          "no openid is bound to this user (never logged in)",
	record.ReasonUnsubscribed:      "the user turned this template off in WeChat's settings",
	record.ReasonProbablyDelivered: "an earlier attempt probably delivered it (WeChat took no answer back, then said no grant is left)",
	record.ReasonAlreadyReminded:   "WeChat's one receipt reminder for this order went out before",
	"already_finished":             "an earlier run had finished it",
}

// whyWords say why an attempt failed or waits, by the outcome's reason,
// when no errcode says it better.
var whyWords = map[string]string{
	"busy":               "WeChat busy",
	"timeout":            "WeChat did not answer in time",
	"connection":         "WeChat could not be reached",
	"canceled":           "the attempt was cut off (the worker stopping)",
	"http_5xx":           "WeChat answered with a server error",
	"http_429":           "WeChat asked us to slow down (HTTP 429)",
	"http_status":        "WeChat's host answered an unexpected HTTP status (a wrong base URL, or a proxy?)",
	"malformed_response": "WeChat's answer could not be read",
	"unknown_error":      "an unexpected error",
	"rate_limited":       "this app's send rate is fully booked (SEND_RATE_PER_SECOND)",
	"user_busy":          "another notification was being sent to this user",
	"claim_held":         "another run of this notification held it",
	"redis":              "Redis did not answer",
	"token":              "WeChat refused the access token twice",
	"token_quota":        "WeChat's quota of access tokens reached",
	"token_refused":      "WeChat refused the app secret for a token (check the secret and the IP whitelist)",
	"payment_not_found":  "WeChat has not filed the payment yet",
	"malformed":          "the task's payload could not be read",
	"no_order_channel":   "no worker serves the order channel",
	"permanent":          "WeChat refused it",
}

// orderWords name the order states WeChat reports.
var orderWords = map[string]string{
	"awaiting_shipment": "awaiting shipment", "shipped": "shipped", "receipt_confirmed": "receipt confirmed by the buyer",
	"completed": "completed", "refunded": "refunded", "awaiting_settlement": "awaiting settlement",
}

// why is what went wrong, or why it waits: an errcode's words when WeChat
// gave one, else the reason's.
func why(reason string, errcode int) string {
	if w := wechat.Explain(errcode); errcode != 0 && w != "" {
		return w
	}
	if strings.HasPrefix(reason, "token_") && whyWords[reason] == "" {
		return "fetching the access token: " + why(strings.TrimPrefix(reason, "token_"), 0)
	}
	if w, ok := whyWords[reason]; ok {
		return w
	}
	return strings.ReplaceAll(reason, "_", " ")
}

// said is an attempt's outcome in plain words.
func said(outcome string, errcode int) string {
	verdict, reason, _ := strings.Cut(outcome, "_")
	switch verdict {
	case "delivered":
		if reason == "order" {
			return "WeChat's order service took it: WeChat tells the buyer itself"
		}
		return "WeChat took the message"
	case "skipped":
		w, ok := skipWords[reason]
		if !ok {
			w = why(reason, errcode)
		}
		return w + "; nothing sent"
	case "retried":
		return why(reason, errcode) + "; to be tried again"
	case "archived":
		return why(reason, errcode) + "; given up (archived)"
	case "order":
		state, ok := orderWords[reason]
		if !ok {
			state = strings.ReplaceAll(reason, "_", " ")
		}
		return "WeChat says the order is " + state
	}
	return strings.ReplaceAll(outcome, "_", " ")
}

// standing is where notification st stands now, in plain words: what it
// waits for and when the next try comes, how it ended and why.
func standing(st record.Status, now time.Time) string {
	var last record.Attempt
	for _, a := range st.History {
		if !strings.HasPrefix(a.Outcome, "order_") {
			last = a
		}
	}
	lastWhy := func() string {
		_, reason, _ := strings.Cut(last.Outcome, "_")
		return why(reason, last.ErrCode)
	}
	switch st.State {
	case record.Pending:
		return "waiting for a worker"
	case record.Scheduled:
		return "scheduled: " + inTime(st.NextProcessAt, now)
	case record.Active:
		return "a worker is attempting it now"
	case record.Retry:
		return lastWhy() + ", retrying " + inTime(st.NextProcessAt, now)
	case record.Archived:
		return "archived: " + lastWhy() + "; re-run it in asynqmon once the cause is fixed"
	case record.Completed:
		if st.Result != nil && st.Result.Status == record.Skipped {
			w, ok := skipWords[st.Result.Reason]
			if !ok {
				w = why(st.Result.Reason, last.ErrCode)
			}
			return "skipped: " + w + "; nothing sent"
		}
		return "delivered: " + said(last.Outcome, 0)
	}
	return string(st.State)
}

// inTime says when t comes from now: "in 30 s", "now" once due.
func inTime(t, now time.Time) string {
	if t.IsZero() {
		return "when a worker takes it"
	}
	d := t.Sub(now)
	if d < time.Second {
		return "now (due " + span(-d) + " ago)"
	}
	return "in " + span(d)
}

// span is a duration as people say it, to its two largest units: "30 s",
// "4 min 10 s", "2 h 5 min", "3 d 4 h".
func span(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d d %d h", int(d.Hours())/24, int(d.Hours())%24)
}
