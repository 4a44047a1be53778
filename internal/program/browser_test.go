package program

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/task"
	"wxnotify/internal/webhook"
	"wxnotify/internal/webhook/webhooktest"
)

// browserDir holds the browser test's script and its npm lockfile.
var browserDir = filepath.Join("..", "..", "deploy", "browser")

// browserTools finds what the browser test runs: Debian's chromium, node,
// and playwright-core installed in deploy/browser. Missing tools skip the
// test on a developer's machine and fail it in CI (CI=true), where .ci/run
// installs them.
func browserTools(t *testing.T) (chromium, node string) {
	t.Helper()
	var missing []string
	chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, "chromium (apt-get install chromium)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install nodejs)")
	}
	if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core (npm ci in deploy/browser)")
	}
	if len(missing) > 0 {
		msg := "the browser test needs " + strings.Join(missing, ", ") + "; .ci/run installs them"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return chromium, node
}

// browserSaw is what deploy/browser/dashboard.mjs reports.
type browserSaw struct {
	Console []struct{ Phase, Type, Text, At string }
	Failed  []struct{ Phase, URL, Error string }
	Bad     []struct {
		Phase, URL, Method string
		Status             int
	}
	Foreign  []struct{ Phase, URL string }
	Requests int
	Pages    struct {
		Dashboard, Queue, Task, TaskURL, TaskByURL string
		PausedByButton                             bool
		IDs, Payloads                              []string
		// The console's pages, and the bars its chart drew.
		ConsoleSearch, ConsoleTimeline, ConsoleOutcomes, ConsoleHealth, ConsoleWebhooks string
		ConsoleChartBars                                                                int
		// The task's page reached from the timeline's link, and where.
		TaskFromConsole, TaskFromConsoleURL string
		// The search by openid and where it left the browser; the search
		// by a task id, and the address of a task id.
		ConsoleSearchOpenID, ConsoleSearchOpenIDURL, ConsoleSearchTaskID, ConsoleTaskIDURL string
		HistoryURLs                                                                        []string
		// The feed a bar of the chart opened, and where; the feed by the
		// navigation, archived then pending.
		ConsoleChartFeed, ConsoleChartFeedURL, ConsoleFeed, ConsoleFeedPending string
		EmptyAppStatus                                                         int
	}
	// Probes are the requests of methods the console does not serve.
	Probes []struct {
		Method, Path, Credentials, Allow string
		Status                           int
	}
	Forms []struct {
		From, Body string
		Status     int
		Headers    map[string]string
	}
	Shots []string
	Error string
}

// An operator's visit to the dashboard in a real browser: the api as a
// program with asynqmon mounted, two notifications waiting (no worker),
// Chromium driven by playwright-core. The dashboard works, its buttons act,
// it tells the notifications apart, masks their openids, loads nothing
// from another host and logs no error; a form on another origin's page
// cannot pause the queue through the admin's browser.
func TestBrowserDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser: skipped with -short")
	}
	t.Parallel()
	chromium, node := browserTools(t)
	sb := sandboxtest.Start(t)
	db := redistest.Lend(t)
	const user, password = "ops", "dashboard-password-1"
	api := launch(t, API, map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "REDIS_URL": db.URL(),
		"WECHAT_APPID": sandboxtest.AppID, "WECHAT_APP_SECRET": sandboxtest.AppSecret, "WECHAT_BASE_URL": sb.URL,
		"API_KEYS": e2eKey, "ADMIN_USER": user, "ADMIN_PASSWORD": password, "LOG_LEVEL": "debug",
	}, "api listening")

	// Two notifications waiting (no worker runs here), and a third that a
	// worker delivered, for the console's feed and chart.
	openids := []string{"o-browser-test-user-000000000000Zq7w", "o-browser-test-user-000000000000Xk3p", "o-browser-test-user-000000000000Dv9d"}
	var ids []string
	for i, openid := range openids {
		body := fmt.Sprintf(`{"template":"order_arrived","openid":%q,"dedupe_key":"order-browser-%d","data":{"item_name":"牛肉面 x2","order_id":"TX2026112400%d","arrived_at":"2026-11-24T15:01:00+08:00","pickup_location":"3号楼前台"}}`, openid, i, i)
		req, _ := http.NewRequest("POST", api.addr+"/v1/notifications", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e2eKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("notify: %d", resp.StatusCode)
		}
		ids = append(ids, out.ID)
	}

	// The third delivered, as the worker writes it — the record, its
	// count and its feed entry in one round trip — and asynq's task gone,
	// as asynq deletes it on completion.
	rdb := db.Client(t)
	records := record.NewStore(rdb, sandboxtest.AppID, time.Hour)
	ins := asynq.NewInspectorFromRedisClient(rdb)
	info, err := ins.GetTaskInfo(task.QueueName, task.TaskID(ids[2]))
	if err != nil {
		t.Fatal(err)
	}
	third, err := task.Decode(info.Payload)
	if err != nil {
		t.Fatal(err)
	}
	res := record.Result{Status: record.Delivered, MsgID: "3141592653"}
	delivered := append([]*redisconn.ScriptCall{records.FinishCall(ids[2], record.From(third, 25), record.Completed, res, record.Step{Outcome: "delivered"}),
		records.CountCall("order_arrived", record.ClassDelivered, time.Now())}, records.FinishFeedCalls(ids[2], record.Completed, res, time.Now())...)
	if err := redisconn.RunScripts(context.Background(), rdb, delivered...); err != nil {
		t.Fatal(err)
	}
	if err := ins.DeleteTask(task.QueueName, task.TaskID(ids[2])); err != nil {
		t.Fatal(err)
	}

	// Outcomes as the worker counts them (its own counting call), over the
	// last hours, for the console's chart.
	var counts []*redisconn.ScriptCall
	for i, class := range []record.Class{record.ClassDelivered, record.ClassDelivered, record.ClassDelivered, record.ClassSkippedNoGrant, record.ClassRetrying, record.ClassDelivered, record.ClassSkippedUnbound} {
		counts = append(counts, records.CountCall("order_arrived", class, time.Now().Add(-time.Duration(i%3)*time.Hour)))
	}
	if err := redisconn.RunScripts(context.Background(), rdb, counts...); err != nil {
		t.Fatal(err)
	}
	// A webhook event the order service never accepted, for the console's
	// dead list.
	dead := webhook.Event{ID: webhook.EventID(ids[0], record.Archived), Type: webhook.TypeArchived, App: "default",
		Notification: webhook.Notification{ID: ids[0], Template: "order_arrived", DedupeKey: "order-browser-0", State: record.Archived}}
	webhooktest.Bury(t, rdb, sandboxtest.AppID, dead)

	// A page of another origin (another port: same site; localhost: another
	// site) whose form posts itself to the pause endpoint on load.
	pause := api.addr + "/admin/asynq/api/queues/" + task.QueueName + ":pause"
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>prize</title><form method="post" action="%s"></form><script>document.forms[0].submit()</script>`, pause)
	}))
	t.Cleanup(foreign.Close)
	port := foreign.Listener.Addr().String()
	port = port[strings.LastIndexByte(port, ':'):] // ":NNNN"

	shots := os.Getenv("WXNOTIFY_SCREENSHOTS") // keep them there; else only a failure's are kept
	if shots == "" {
		dir, err := os.MkdirTemp("", "wxnotify-dashboard-")
		if err != nil {
			t.Fatal(err)
		}
		shots = dir
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("screenshots kept in %s", dir)
				return
			}
			_ = os.RemoveAll(dir)
		})
	}
	shots, _ = filepath.Abs(shots)
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each wait in the script: asynqmon shows what it fetched at once, and
	// refreshes every 8 s (its default poll interval); two of those, and
	// room for a 2-core machine busy with other tests.
	const wait = 20 * time.Second
	cfg, _ := json.Marshal(map[string]any{
		"api": api.addr, "user": user, "password": password, "chromium": chromium,
		"userDataDir": t.TempDir(), "screenshots": shots, "timeoutMs": wait.Milliseconds(),
		"queue": task.QueueName, "tasks": 2, "taskID": task.TaskID(ids[1]),
		"dedupeKey": "order-browser-1", "notificationID": ids[1], "openid": openids[0],
		"foreignPages": []string{"http://127.0.0.1" + port + "/", "http://localhost" + port + "/"},
	})
	// The script's whole run: its waits, Chromium's start and stop.
	ctx, cancel := context.WithTimeout(context.Background(), 12*wait)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "dashboard.mjs", string(cfg))
	cmd.Dir, cmd.Stdout, cmd.Stderr = browserDir, &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("dashboard.mjs: %v\n%s", err, stderr.String())
	}
	took := time.Since(start)
	var saw browserSaw
	if err := json.Unmarshal(stdout.Bytes(), &saw); err != nil {
		t.Fatalf("dashboard.mjs printed %q: %v\n%s", stdout.String(), err, stderr.String())
	}
	if saw.Error != "" {
		t.Fatalf("in the browser: %s\nconsole: %+v\nfailed requests: %+v\nerror answers: %+v\nother hosts: %+v",
			saw.Error, saw.Console, saw.Failed, saw.Bad, saw.Foreign)
	}

	// No console error or warning, no failed request, no other host, no
	// error answer — besides the two refused forms, in their own phase.
	for _, c := range saw.Console {
		if c.Phase == "dashboard" {
			t.Errorf("console %s: %s (%s)", c.Type, c.Text, c.At)
		} else {
			t.Logf("console while probing, or on another origin's page: %s: %s (%s)", c.Type, c.Text, c.At)
		}
	}
	for _, f := range saw.Failed {
		if f.Phase == "probes" {
			continue // a HEAD's body is aborted; the probes are judged by their answers
		}
		t.Errorf("request failed: %s (%s) [%s]", f.URL, f.Error, f.Phase)
	}
	for _, b := range saw.Bad {
		if b.Phase == "probes" {
			continue // judged below
		}
		if b.Phase == "dashboard" || !strings.HasSuffix(b.URL, ":pause") {
			t.Errorf("answer %d to %s %s [%s]", b.Status, b.Method, b.URL, b.Phase)
		}
	}
	for _, f := range saw.Foreign {
		if f.Phase == "dashboard" || !strings.HasSuffix(strings.TrimSuffix(f.URL, "/"), port) {
			t.Errorf("a request left for another host: %s [%s]", f.URL, f.Phase)
		}
	}

	// The queue's buttons act; each notification has an id of its own on
	// screen, its task id whole; payloads show openids masked.
	if !saw.Pages.PausedByButton {
		t.Error("the Pause button did not pause the queue")
	}
	want := map[string]bool{task.TaskID(ids[0]): true, task.TaskID(ids[1]): true} // the third is delivered
	if len(saw.Pages.IDs) != 2 || saw.Pages.IDs[0] == saw.Pages.IDs[1] || !want[strings.TrimSpace(saw.Pages.IDs[0])] || !want[strings.TrimSpace(saw.Pages.IDs[1])] {
		t.Errorf("ID cells read %q; want the two task ids %v", saw.Pages.IDs, want)
	}
	// The console found the order by its dedupe key, showed its timeline
	// (accepted, waiting: no worker runs here), drew the counted outcomes
	// and the queue's health.
	if !strings.Contains(saw.Pages.ConsoleSearch, ids[1]) || !strings.Contains(saw.Pages.ConsoleTimeline, ids[1]) || !strings.Contains(saw.Pages.ConsoleTimeline, "order-browser-1") {
		t.Errorf("console search and timeline show:\n%s\n---\n%s", saw.Pages.ConsoleSearch, saw.Pages.ConsoleTimeline)
	}
	if saw.Pages.ConsoleChartBars == 0 || !strings.Contains(saw.Pages.ConsoleOutcomes, "order_arrived") {
		t.Errorf("the outcomes chart drew %d bars; the page shows:\n%s", saw.Pages.ConsoleChartBars, saw.Pages.ConsoleOutcomes)
	}
	if !strings.Contains(saw.Pages.ConsoleHealth, task.QueueName) {
		t.Errorf("the health page shows:\n%s", saw.Pages.ConsoleHealth)
	}
	if !strings.Contains(saw.Pages.ConsoleWebhooks, dead.ID) || !strings.Contains(saw.Pages.ConsoleWebhooks, ids[0]) {
		t.Errorf("the dead webhook events page shows:\n%s", saw.Pages.ConsoleWebhooks)
	}
	consoleTruths(t, saw, ids)
	pages := strings.Join([]string{saw.Pages.Dashboard, saw.Pages.Queue, saw.Pages.Task, saw.Pages.TaskByURL,
		saw.Pages.ConsoleSearch, saw.Pages.ConsoleTimeline, saw.Pages.ConsoleOutcomes, saw.Pages.ConsoleHealth, saw.Pages.ConsoleWebhooks,
		saw.Pages.TaskFromConsole, saw.Pages.ConsoleSearchOpenID, saw.Pages.ConsoleSearchTaskID, saw.Pages.ConsoleChartFeed,
		saw.Pages.ConsoleFeed, saw.Pages.ConsoleFeedPending, saw.Pages.ConsoleSearchOpenIDURL, strings.Join(saw.Pages.HistoryURLs, " ")}, "\n")
	for i, openid := range openids {
		if strings.Contains(pages, openid) {
			t.Errorf("the dashboard shows openid %s in clear", openid)
		}
		if i == 2 {
			continue // delivered: not in the queue
		}
		if masked := "…" + openid[len(openid)-4:]; !strings.Contains(saw.Pages.Queue, masked) || !strings.Contains(strings.Join(saw.Pages.Payloads, "\n"), masked) {
			t.Errorf("the queue page lacks the masked openid %s", masked)
		}
	}
	if !strings.Contains(saw.Pages.TaskByURL, task.TaskID(ids[1])) || !strings.Contains(saw.Pages.TaskByURL, "…"+openids[1][len(openids[1])-4:]) {
		t.Errorf("the task's page by its address shows:\n%s", saw.Pages.TaskByURL)
	}

	// The forms were refused (403, the API's error body), and asynq says
	// the queue is not paused.
	if len(saw.Forms) != 2 {
		t.Fatalf("%d forms answered; want 2", len(saw.Forms))
	}
	for _, f := range saw.Forms {
		if f.Status != http.StatusForbidden || !strings.Contains(f.Body, `"code":"cross_origin"`) {
			t.Errorf("form from %s: %d %s; want 403 cross_origin", f.From, f.Status, f.Body)
		}
		t.Logf("form from %s: Sec-Fetch-Site %s, Origin %s → %d", f.From, f.Headers["sec-fetch-site"], f.Headers["origin"], f.Status)
	}
	queue, err := ins.GetQueueInfo(task.QueueName)
	if err != nil || queue.Paused {
		t.Fatalf("queue after the forms: paused %v (%v); want running", queue != nil && queue.Paused, err)
	}

	// The api's side: every request the browser made was answered without
	// error but the forms' two 403s and the 401s that ask for the password.
	statuses := map[int]int{}
	for _, line := range strings.Split(api.logs.String(), "\n") {
		var rec struct {
			Msg, Route string
			Status     int
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "http request" && strings.HasPrefix(rec.Route, "/admin/") {
			statuses[rec.Status]++
		}
	}
	t.Logf("FIGURE browser: %d requests from the browser, api answers by status %v, screenshots %v, %s",
		saw.Requests, statuses, saw.Shots, took.Round(100*time.Millisecond))
	// A browser sends saved credentials unasked only below the path that
	// first asked for them: the dashboard (/admin/asynq/) and the console
	// (/admin/) each ask once. The probes add their own.
	probed := map[int]int{}
	for _, p := range saw.Probes {
		probed[p.Status]++
	}
	if statuses[http.StatusForbidden] != 2 || statuses[http.StatusUnauthorized] > 2+probed[401] {
		t.Errorf("api answers by status %v; want two 403s, and at most the two 401s that ask for the password besides the probes' %v", statuses, probed)
	}
}

// consoleTruths judges what the browser saw of the console's feed, its
// chart's click-through, a notification's content, and the small truths
// an operator found in a browser (issue 25).
func consoleTruths(t *testing.T, saw browserSaw, ids []string) {
	t.Helper()
	p := saw.Pages
	// What it sends, with the task in asynqmon a click away.
	for _, want := range []string{"What it sends", "asynq holds its task: pending", "thing1", "item_name", "牛肉面 x2", "pickup_location", "3号楼前台"} {
		if !strings.Contains(p.ConsoleTimeline, want) {
			t.Errorf("the timeline lacks %q:\n%s", want, p.ConsoleTimeline)
		}
	}
	if !strings.HasSuffix(p.TaskFromConsoleURL, "/admin/asynq/queues/"+task.QueueName+"/tasks/"+task.TaskID(ids[1])) || !strings.Contains(p.TaskFromConsole, "Payload") {
		t.Errorf("the timeline's link led to %s, showing:\n%s", p.TaskFromConsoleURL, p.TaskFromConsole)
	}
	// The search by openid: posted, so the address is /admin/ alone; the
	// user, never bound, is "not bound", masked.
	if !strings.HasSuffix(p.ConsoleSearchOpenIDURL, "/admin/") || !strings.Contains(p.ConsoleSearchOpenID, "(not bound, masked)") ||
		strings.Contains(p.ConsoleSearchOpenID, "an openid, masked") || !strings.Contains(p.ConsoleSearchOpenID, ids[0]) {
		t.Errorf("the search by openid left the browser at %s, showing:\n%s", p.ConsoleSearchOpenIDURL, p.ConsoleSearchOpenID)
	}
	// asynqmon's form of an id: found, and its address is the notification's page.
	if !strings.Contains(p.ConsoleSearchTaskID, ids[1]) || !strings.HasSuffix(p.ConsoleTaskIDURL, "/admin/notifications/"+ids[1]) {
		t.Errorf("the task id %s: search shows\n%s\nits address led to %s", task.TaskID(ids[1]), p.ConsoleSearchTaskID, p.ConsoleTaskIDURL)
	}
	if p.EmptyAppStatus != http.StatusOK {
		t.Errorf("the feed with ?app= empty: %d; want 200, the first app", p.EmptyAppStatus)
	}
	// The chart's bar of this hour's deliveries opened their feed; the
	// feed's pending tab lists the two waiting, newest first.
	if !strings.Contains(p.ConsoleChartFeedURL, "state=delivered") || !strings.Contains(p.ConsoleChartFeedURL, "template=order_arrived") ||
		!strings.Contains(p.ConsoleChartFeed, ids[2]) || strings.Contains(p.ConsoleChartFeed, ids[1]) {
		t.Errorf("the chart's bar opened %s, showing:\n%s", p.ConsoleChartFeedURL, p.ConsoleChartFeed)
	}
	if i, j := strings.Index(p.ConsoleFeedPending, ids[1]), strings.Index(p.ConsoleFeedPending, ids[0]); i < 0 || j < i ||
		strings.Contains(p.ConsoleFeedPending, ids[2]) || !strings.Contains(p.ConsoleFeedPending, "waiting for a worker") {
		t.Errorf("the pending feed shows:\n%s", p.ConsoleFeedPending)
	}
	if !strings.Contains(p.ConsoleFeed, "archived") {
		t.Errorf("the feed's first page shows:\n%s", p.ConsoleFeed)
	}
	// The credentials first: without them 401, whatever the method; with
	// them HEAD is served, other methods are 405 with what is allowed.
	if len(saw.Probes) != 6 {
		t.Fatalf("%d probes; want 6", len(saw.Probes))
	}
	for _, pr := range saw.Probes {
		want := http.StatusUnauthorized
		switch {
		case pr.Credentials == "omit":
		case pr.Method == "HEAD":
			want = http.StatusOK
		default:
			want = http.StatusMethodNotAllowed
		}
		if pr.Status != want || (pr.Status == 405) != (pr.Allow != "") {
			t.Errorf("%s %s, credentials %s: %d, Allow %q; want %d", pr.Method, pr.Path, pr.Credentials, pr.Status, pr.Allow, want)
		}
	}
}
