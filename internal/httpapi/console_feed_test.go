package httpapi_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/task"
)

// outcomeOf writes an attempt's outcome as the worker does: the record's
// write, its count and the feed's, in one round trip.
func (e *env) outcomeOf(id string, p task.Payload, state record.State, res record.Result, step record.Step) {
	e.t.Helper()
	now := time.Now()
	calls := []*redisconn.ScriptCall{e.records.CountCall(p.Template, classOf(state, res), now)}
	if state == record.Retry {
		calls = append(calls, e.records.RetryCall(id, step, now.Add(30*time.Second), true))
		calls = append(calls, e.records.RetryFeedCalls(id, now)...)
	} else {
		calls = append(calls, e.records.FinishCall(id, record.From(p, 5), state, res, step))
		calls = append(calls, e.records.FinishFeedCalls(id, state, res, now)...)
	}
	if err := redisconn.RunScripts(context.Background(), e.rdb, calls...); err != nil {
		e.t.Fatal(err)
	}
}

// classOf is the chart's class of an outcome, as delivery gives it.
func classOf(state record.State, res record.Result) record.Class {
	switch {
	case state == record.Retry:
		return record.ClassRetrying
	case state == record.Archived:
		return record.ClassArchived
	case res.Status == record.Delivered:
		return record.ClassDelivered
	case res.Reason == record.ReasonNoGrant:
		return record.ClassSkippedNoGrant
	}
	return record.ClassSkippedOther
}

// notify posts a notification of template through the api and returns its
// id and payload.
func (e *env) notify(template, user, dedupe string) (string, task.Payload) {
	e.t.Helper()
	body := orderRequest(user, dedupe)
	if template == "transit_reminder" {
		body["template"], body["data"] = template, map[string]any{"trip": "G1234 北京南→上海虹桥", "departs_at": "2026-12-24T08:00:00+08:00"}
	}
	r := e.do("POST", "/v1/notifications", bearer(apiKey), body)
	e.want(r, 202, "")
	id := str(r.body, "id")
	return id, e.taskPayload(id)
}

// feedLinks are the notification links of a console page, in order.
func feedLinks(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<td><a href="/admin/notifications/([^"?]+)[^"]*">`).FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// The feed lists the app's notifications where each stands now, newest
// first, by template, skip reason and time, page after page; the outcome
// chart's bars open the feed of their template, class and hour.
func TestConsoleFeedListsWhereNotificationsStand(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	var ids []string
	var ps []task.Payload
	for i, tmpl := range []string{"order_arrived", "order_arrived", "transit_reminder", "order_arrived", "order_arrived", "order_arrived"} {
		id, p := e.notify(tmpl, "feed-user", "feed-"+string(rune('a'+i)))
		ids, ps = append(ids, id), append(ps, p)
		time.Sleep(2 * time.Millisecond) // each accepted in its own millisecond
	}
	e.outcomeOf(ids[1], ps[1], record.Retry, record.Result{}, record.Step{Outcome: "retried_busy", ErrCode: -1, Error: "errcode -1: system busy"})
	e.outcomeOf(ids[3], ps[3], record.Completed, record.Result{Status: record.Delivered, MsgID: "9"}, record.Step{Outcome: "delivered"})
	e.outcomeOf(ids[4], ps[4], record.Completed, record.Result{Status: record.Skipped, Reason: record.ReasonNoGrant}, record.Step{Outcome: "skipped_no_grant"})
	e.outcomeOf(ids[5], ps[5], record.Archived, record.Result{}, record.Step{Outcome: "archived_permanent", ErrCode: 40003, Error: "errcode 40003: invalid openid"})
	get := func(path string) string {
		t.Helper()
		p := e.page(path, true)
		if p.status != http.StatusOK {
			t.Fatalf("GET %s: %d %.300s", path, p.status, p.body)
		}
		return p.body
	}
	for path, want := range map[string][]string{
		"/admin/feed":               {ids[5]}, // archived by default: what failed
		"/admin/feed?state=pending": {ids[2], ids[0]},
		"/admin/feed?state=pending&template=transit_reminder": {ids[2]},
		"/admin/feed?state=retrying":                          {ids[1]},
		"/admin/feed?state=delivered":                         {ids[3]},
		"/admin/feed?state=skipped&reason=no_grant":           {ids[4]},
		"/admin/feed?state=skipped&reason=other":              nil,
		"/admin/feed?state=delivered&to=2020-01-01T00:00":     nil,
		"/admin/feed?state=pending&app=":                      {ids[2], ids[0]},
	} {
		if got := feedLinks(get(path)); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("GET %s lists %v; want %v", path, got, want)
		}
	}
	// Where each stands, in words beside the codes.
	for path, want := range map[string]string{
		"/admin/feed?state=retrying": "WeChat busy, retrying in ", // 29 or 30 s
		"/admin/feed":                "archived: not an openid of this mini program; re-run it in asynqmon once the cause is fixed",
		"/admin/feed?state=pending":  "waiting for a worker",
	} {
		if body := html.UnescapeString(get(path)); !strings.Contains(body, want) {
			t.Errorf("GET %s lacks %q", path, want)
		}
	}
	// The chart's delivered bar of this hour opens the delivered feed of
	// order_arrived in this hour.
	outcomes := get("/admin/outcomes")
	m := regexp.MustCompile(`<a href="(/admin/feed\?[^"]*state=delivered[^"]*)"><rect class="c-delivered"`).FindStringSubmatch(outcomes)
	if m == nil {
		t.Fatalf("no link on the chart's delivered bar:\n%s", outcomes)
	}
	href := html.UnescapeString(m[1])
	hour := time.Now().UTC().Truncate(time.Hour)
	for _, want := range []string{"template=order_arrived", "from=" + strings.ReplaceAll(hour.Format(time.RFC3339), ":", "%3A"), "to=" + strings.ReplaceAll(hour.Add(time.Hour).Format(time.RFC3339), ":", "%3A")} {
		if !strings.Contains(href, want) {
			t.Errorf("the bar's link %s lacks %s", href, want)
		}
	}
	if got := feedLinks(get(href)); len(got) != 1 || got[0] != ids[3] {
		t.Errorf("the bar's feed lists %v; want %s", got, ids[3])
	}
	for path, want := range map[string]int{
		"/admin/feed?state=nope":                                    400,
		"/admin/feed?state=delivered&reason=no_grant":               400,
		"/admin/feed?state=skipped&reason=nope":                     400,
		"/admin/feed?template=Bad-Name":                             400,
		"/admin/feed?from=2026-12-06T15:00&to=2026-12-06T14:00":     400,
		"/admin/feed?from=yesterday":                                400,
		"/admin/feed?state=pending&cursor=nonsense":                 400,
		"/admin/feed?state=delivered&cursor=2026120614.3":           400,
		"/admin/feed?state=delivered&template=no_longer_registered": 200,
	} {
		if p := e.page(path, true); p.status != want {
			t.Errorf("GET %s: %d; want %d", path, p.status, want)
		}
	}
}

// The feed pages on with an Older link, without a gap or a repeat.
func TestConsoleFeedPages(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 55 {
		p := task.Payload{Template: "order_arrived", TemplateID: orderTmpl, UserID: "pager", DedupeKey: "page-" + string(rune('A'+i)),
			Data: map[string]string{"thing1": "x"}, CreatedAt: time.Now().Add(time.Duration(i) * time.Millisecond).UTC()}
		en, err := e.queue.Enqueue(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want[en.ID] = true
	}
	first := e.page("/admin/feed?state=pending", true)
	older := regexp.MustCompile(`<a href="([^"]+)" rel="next">Older</a>`).FindStringSubmatch(first.body)
	if older == nil {
		t.Fatalf("the first page has no Older link")
	}
	second := e.page(html.UnescapeString(older[1]), true)
	got := append(feedLinks(first.body), feedLinks(second.body)...)
	seen := map[string]bool{}
	for _, id := range got {
		if !want[id] || seen[id] {
			t.Fatalf("the pages list %s (unknown or twice)", id)
		}
		seen[id] = true
	}
	if len(feedLinks(first.body)) != 50 || len(seen) != 55 || strings.Contains(second.body, `rel="next"`) {
		t.Fatalf("pages of %d and %d; want 50 and 5, and no third", len(feedLinks(first.body)), len(feedLinks(second.body)))
	}
}

// A notification's page shows what it sends — the rendered keywords, the
// page, WeChat's template id — with its task in asynqmon while asynq holds
// it, and says so once asynq no longer does; outcomes read in words
// beside their codes, and a delivered notification shows its earlier
// error as earlier, not as its last.
func TestConsoleNotificationShowsWhatItSends(t *testing.T) {
	t.Parallel()
	e := setup(t, options{dashboard: true})
	id, p := e.notify("order_arrived", "sent-user", "sent-1")
	e.outcomeOf(id, p, record.Retry, record.Result{}, record.Step{Outcome: "retried_busy", ErrCode: -1, Error: "errcode -1: system busy"})
	path := "/admin/notifications/" + id
	held := html.UnescapeString(e.page(path, true).body)
	for _, want := range []string{
		"asynq holds its task: <strong>pending</strong>",
		`<a href="/admin/asynq/queues/notifications/tasks/` + task.TaskID(id) + `">open the task in asynqmon</a>`,
		"<code>" + orderTmpl + "</code>", "<code>pages/order/detail?id=TX20261124001</code>",
		"<td><code>thing1</code></td><td>item_name</td><td>牛肉面 x2</td>",
		"<td><code>thing5</code></td><td>remarks</td><td>请凭取件码取件</td>",
		"retried_busy</strong> <span class=\"muted\">errcode</span> <code>-1</code> — WeChat busy; to be tried again",
		"WeChat busy, retrying in ", "<dt>last error</dt>",
	} {
		if !strings.Contains(held, want) {
			t.Errorf("GET %s (held) lacks %s", path, want)
		}
	}
	// Delivered: asynq deletes the task (the worker's completion does).
	e.outcomeOf(id, p, record.Completed, record.Result{Status: record.Delivered, MsgID: "77"}, record.Step{Outcome: "delivered"})
	if err := asynq.NewInspectorFromRedisClient(e.rdb).DeleteTask(task.QueueName, task.TaskID(id)); err != nil {
		t.Fatal(err)
	}
	done := html.UnescapeString(e.page(path, true).body)
	for _, want := range []string{
		"asynq no longer holds its task", "WeChat's <code>" + orderTmpl + "</code>", "<td><code>thing1</code></td><td>item_name</td></tr>",
		"<dt>earlier error</dt>", "before it completed: it no longer stands", "delivered: WeChat took the message",
	} {
		if !strings.Contains(done, want) {
			t.Errorf("GET %s (delivered) lacks %s", path, want)
		}
	}
	if strings.Contains(done, "<dt>last error</dt>") || strings.Contains(done, "牛肉面") {
		t.Errorf("GET %s (delivered) shows a last error, or content it no longer has", path)
	}
}
