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

	openids := []string{"o-browser-test-user-000000000000Zq7w", "o-browser-test-user-000000000000Xk3p"}
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

	// Outcomes as the worker counts them (its own counting call), over the
	// last hours, for the console's chart.
	rdb := db.Client(t)
	records := record.NewStore(rdb, sandboxtest.AppID, time.Hour)
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
		"queue": task.QueueName, "tasks": len(ids), "taskID": task.TaskID(ids[1]),
		"dedupeKey": "order-browser-1", "notificationID": ids[1],
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
			t.Logf("console while on another origin's page: %s: %s (%s)", c.Type, c.Text, c.At)
		}
	}
	for _, f := range saw.Failed {
		t.Errorf("request failed: %s (%s) [%s]", f.URL, f.Error, f.Phase)
	}
	for _, b := range saw.Bad {
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
	want := map[string]bool{task.TaskID(ids[0]): true, task.TaskID(ids[1]): true}
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
	pages := strings.Join([]string{saw.Pages.Dashboard, saw.Pages.Queue, saw.Pages.Task, saw.Pages.TaskByURL,
		saw.Pages.ConsoleSearch, saw.Pages.ConsoleTimeline, saw.Pages.ConsoleOutcomes, saw.Pages.ConsoleHealth, saw.Pages.ConsoleWebhooks}, "\n")
	for _, openid := range openids {
		if strings.Contains(pages, openid) {
			t.Errorf("the dashboard shows openid %s in clear", openid)
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
	info, err := asynq.NewInspectorFromRedisClient(db.Client(t)).GetQueueInfo(task.QueueName)
	if err != nil || info.Paused {
		t.Fatalf("queue after the forms: paused %v (%v); want running", info != nil && info.Paused, err)
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
	// (/admin/) each ask once.
	if statuses[http.StatusForbidden] != 2 || statuses[http.StatusUnauthorized] > 2 {
		t.Errorf("api answers by status %v; want two 403s and at most the two 401s that ask for the password", statuses)
	}
}
