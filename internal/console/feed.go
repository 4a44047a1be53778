package console

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/record"
)

// feedPage is the app's notifications in one state, newest first, filtered
// by template, skip reason and time (record.Store.Feed).
type feedPage struct {
	State     record.FeedState
	States    []tab
	Template  string
	Templates []string
	// Reason filters skips; Reasons are its choices (skipped only).
	Reason  string
	Reasons []string
	// From and To are the time filter as the form shows it (UTC).
	From, To string
	App      string
	Rows     []feedRow
	// Next is the following page's link; Cut says the page stopped after
	// reading Scanned entries of the index before it was full.
	Next    string
	Cut     bool
	Scanned int
}

// tab is a state in the page's tabs: the same filters in that state.
type tab struct {
	Name    record.FeedState
	Href    string
	Current bool
}

// feedRow is a notification in the feed: since when it is in its state,
// and where it stands in plain words.
type feedRow struct {
	notificationRow
	At       time.Time
	Standing string
}

// feedLimit is how many notifications a page of the feed lists.
const feedLimit = 50

// templateName is a template's name as the registry allows it; the feed
// also finds templates no longer registered (the chart names them).
var templateName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// skipReasons are the skip reasons the feed filters by: record's, and
// record.FeedOtherReasons for all but the two the chart counts apart.
var skipReasons = []string{record.ReasonNoGrant, record.ReasonNotBound, record.FeedOtherReasons, record.ReasonUnsubscribed,
	record.ReasonProbablyDelivered, record.ReasonAlreadyReminded}

// feedTime is the layout of the time filter in the form (an
// <input type="datetime-local">, read as UTC); links from the chart use
// RFC 3339, which is read too.
const feedTime = "2006-01-02T15:04"

// feed lists the app's notifications in one state, archived by default:
// the first question on call is what failed.
func (c *Console) feed(ctx *gin.Context, v *view) {
	q := record.FeedQuery{State: record.FeedArchived, Template: ctx.Query("template"), Reason: ctx.Query("reason"),
		Cursor: ctx.Query("cursor"), Limit: feedLimit}
	if s := ctx.Query("state"); s != "" {
		q.State = record.FeedState(s)
	}
	var err error
	switch {
	case !slices.Contains(record.FeedStates, q.State):
		c.problem(ctx, v, http.StatusBadRequest, "No state "+string(q.State)+": pending, retrying, delivered, skipped or archived.")
		return
	case q.Template != "" && !templateName.MatchString(q.Template):
		c.problem(ctx, v, http.StatusBadRequest, "Not a template name: "+q.Template+".")
		return
	case q.Reason != "" && (q.State != record.FeedSkipped || !slices.Contains(skipReasons, q.Reason)):
		c.problem(ctx, v, http.StatusBadRequest, "A reason filters skipped notifications only, by a skip reason.")
		return
	}
	if q.From, err = parseFeedTime(ctx.Query("from")); err == nil {
		q.To, err = parseFeedTime(ctx.Query("to"))
	}
	if err != nil || !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		c.problem(ctx, v, http.StatusBadRequest, "A time is 2006-01-02T15:04 (UTC) or RFC 3339, and from comes before to.")
		return
	}
	page, err := v.Notifications.Feed(ctx.Request.Context(), q)
	switch {
	case errors.Is(err, record.ErrBadCursor):
		c.problem(ctx, v, http.StatusBadRequest, "Not a cursor of this feed: start again from its first page.")
		return
	case err != nil:
		c.unavailable(ctx, v, "read the feed", err)
		return
	}
	p := feedPage{State: q.State, Template: q.Template, Reason: q.Reason, App: v.param, Scanned: page.Scanned,
		From: formTime(q.From), To: formTime(q.To)}
	for _, t := range v.Registry.Templates() {
		p.Templates = append(p.Templates, t.Name)
	}
	if q.Template != "" && !slices.Contains(p.Templates, q.Template) {
		p.Templates = append(p.Templates, q.Template)
	}
	if q.State == record.FeedSkipped {
		p.Reasons = skipReasons
	}
	for _, s := range record.FeedStates {
		other := q
		other.State, other.Cursor = s, ""
		if s != record.FeedSkipped {
			other.Reason = ""
		}
		p.States = append(p.States, tab{Name: s, Href: v.feedLink(other), Current: s == q.State})
	}
	now := c.Now()
	for _, e := range page.Entries {
		p.Rows = append(p.Rows, feedRow{notificationRow: v.rowOf(e.Status), At: e.At, Standing: standing(e.Status, now)})
	}
	if page.Next != "" {
		next := q
		next.Cursor = page.Next
		p.Next = v.feedLink(next)
		p.Cut = len(page.Entries) < feedLimit
	}
	c.render(ctx, v, http.StatusOK, "feed", "Feed: "+string(q.State), p)
}

// feedLink is the feed page of q in v's app.
func (v *view) feedLink(q record.FeedQuery) string {
	vals := url.Values{"state": {string(q.State)}}
	if v.param != "" {
		vals.Set("app", v.param)
	}
	for k, s := range map[string]string{"template": q.Template, "reason": q.Reason, "cursor": q.Cursor} {
		if s != "" {
			vals.Set(k, s)
		}
	}
	for k, t := range map[string]time.Time{"from": q.From, "to": q.To} {
		if !t.IsZero() {
			vals.Set(k, t.UTC().Format(time.RFC3339))
		}
	}
	return "/admin/feed?" + vals.Encode()
}

// parseFeedTime reads a time filter: empty is none.
func parseFeedTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(feedTime, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// formTime is t as the form's datetime-local input shows it.
func formTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(feedTime)
}

// feedOfClass is the feed behind one segment of the outcome chart: the
// notifications of template in class's state that entered it in the hour
// from at. The chart counts attempts, the feed lists where each
// notification stands now: one retried in that hour and delivered since
// is in the delivered feed of its later hour.
func feedOfClass(class record.Class, template string, at time.Time) record.FeedQuery {
	q := record.FeedQuery{Template: template, From: at, To: at.Add(time.Hour)}
	switch class {
	case record.ClassDelivered:
		q.State = record.FeedDelivered
	case record.ClassSkippedNoGrant:
		q.State, q.Reason = record.FeedSkipped, record.ReasonNoGrant
	case record.ClassSkippedUnbound:
		q.State, q.Reason = record.FeedSkipped, record.ReasonNotBound
	case record.ClassSkippedOther:
		q.State, q.Reason = record.FeedSkipped, record.FeedOtherReasons
	case record.ClassRetrying:
		q.State = record.FeedRetrying
	default:
		q.State = record.FeedArchived
	}
	return q
}
