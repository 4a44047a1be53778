// Drives the queue dashboard (/admin/asynq/) and the operator console
// (/admin/) in Debian's headless Chromium with playwright-core, as an
// operator would, and prints what it saw as one JSON object on stdout. It asserts nothing: internal/program's
// TestBrowserDashboard starts the api, runs this script and judges the
// result. Usage: node dashboard.mjs '<config JSON>' (see TestBrowserDashboard).
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2]);
const api = new URL(cfg.api).origin;
const root = `${api}/admin/asynq`;
const timeout = cfg.timeoutMs;

// What the browser did, by phase: "dashboard" is the operator's visit;
// "probes" its requests of methods the console does not serve; "foreign"
// is the admin's browser on another origin's page.
const seen = { console: [], failed: [], bad: [], foreign: [], requests: 0, pages: {}, forms: [], shots: [], probes: [] };
let phase = "dashboard";

const context = await chromium.launchPersistentContext(cfg.userDataDir, {
  executablePath: cfg.chromium,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
  // Answered when the api asks (401 with WWW-Authenticate), as a browser
  // with the password saved does; only for the api's origin.
  httpCredentials: { username: cfg.user, password: cfg.password, origin: api },
  viewport: { width: 1366, height: 860 },
});
// CSP violations also reach the console, but say so in one line each.
await context.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (e) =>
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "(inline)"}`));
});
context.on("console", (m) => {
  if (m.type() === "error" || m.type() === "warning") seen.console.push({ phase, type: m.type(), text: m.text(), at: m.location().url });
});
context.on("weberror", (e) => seen.console.push({ phase, type: "pageerror", text: String(e.error()) }));
context.on("request", (r) => {
  seen.requests++;
  const u = new URL(r.url());
  if (u.protocol !== "data:" && u.protocol !== "blob:" && u.origin !== api) seen.foreign.push({ phase, url: r.url() });
});
context.on("requestfailed", (r) => seen.failed.push({ phase, url: r.url(), error: r.failure()?.errorText }));
context.on("response", (r) => {
  if (r.status() >= 400) seen.bad.push({ phase, url: r.url(), status: r.status(), method: r.request().method() });
});

const page = context.pages()[0] ?? (await context.newPage());
const text = (sel) => page.locator(sel).allInnerTexts();
const shot = async (name) => {
  const path = `${cfg.screenshots}/${name}.png`;
  await page.screenshot({ path });
  seen.shots.push(path);
};
// asynqmon polls its API every few seconds: "network idle" (500 ms without
// a request) comes between two polls.
const settle = () => page.waitForLoadState("networkidle", { timeout });

try {
  // The overview: the queue is listed, running.
  await page.goto(`${root}/`, { timeout });
  const row = page.locator("tr", { has: page.getByRole("link", { name: cfg.queue, exact: true }) });
  await row.getByText("run", { exact: true }).waitFor({ timeout });
  await settle();
  seen.pages.dashboard = await page.locator("body").innerText();
  await shot("overview");

  // Pause and resume with the dashboard's own buttons: its same-origin
  // POSTs must still work. The buttons show while the pointer is on the
  // row's last cell: the first is Pause (Resume once paused).
  const actions = row.locator("td").last();
  await actions.hover();
  await actions.locator("button").first().click({ timeout });
  await row.getByText("paused", { exact: true }).waitFor({ timeout });
  seen.pages.pausedByButton = true;
  await actions.hover();
  await actions.locator("button").first().click({ timeout });
  await row.getByText("run", { exact: true }).waitFor({ timeout });

  // The pending tasks: one row per notification, told apart by its id.
  await page.goto(`${root}/queues/${cfg.queue}?status=pending`, { timeout });
  const idCells = page.locator("tbody th[scope=row]");
  await idCells.nth(cfg.tasks - 1).waitFor({ timeout });
  await settle();
  seen.pages.ids = await idCells.allInnerTexts();
  seen.pages.payloads = await text("tbody pre");
  seen.pages.queue = await page.locator("body").innerText();
  // Tall enough for both rows: the app scrolls inside its own pane, so a
  // full-page screenshot would not show more.
  await page.setViewportSize({ width: 1366, height: 1280 });
  await shot("queue");
  await page.setViewportSize({ width: 1366, height: 860 });

  // One task's page, from a click on its row, then by its address (the
  // server answers the app's page for it).
  await idCells.first().click();
  await page.waitForURL(/\/tasks\//, { timeout });
  await page.getByText(seen.pages.ids[0], { exact: true }).first().waitFor({ timeout });
  await page.getByText("Payload:").first().waitFor({ timeout });
  await settle();
  seen.pages.task = await page.locator("body").innerText();
  seen.pages.taskURL = page.url();
  await shot("task");
  await page.goto(`${root}/queues/${cfg.queue}/tasks/${encodeURIComponent(cfg.taskID)}`, { timeout });
  await page.getByText(cfg.taskID).first().waitFor({ timeout });
  await settle();
  seen.pages.taskByURL = await page.locator("body").innerText();

  // The console: search an order by its dedupe key (the form posts: no
  // query in the address), open its timeline with what it sends, and its
  // task in asynqmon from there.
  const search = async (q) => {
    await page.goto(`${api}/admin/`, { timeout });
    await page.locator("#q").fill(q);
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/admin/", { timeout }),
      page.getByRole("button", { name: "Search" }).click(),
    ]);
    await page.waitForLoadState("load");
  };
  await search(cfg.dedupeKey);
  seen.pages.consoleSearch = await page.locator("body").innerText();
  await shot("console-search");
  await Promise.all([page.waitForURL(/\/admin\/notifications\//, { timeout }), page.getByRole("link", { name: cfg.notificationID }).first().click()]);
  seen.pages.consoleTimeline = await page.locator("body").innerText();
  await page.setViewportSize({ width: 1366, height: 1280 });
  await shot("console-timeline");
  await page.setViewportSize({ width: 1366, height: 860 });
  await Promise.all([page.waitForURL(/\/admin\/asynq\/queues\/.*\/tasks\//, { timeout }), page.getByRole("link", { name: "open the task in asynqmon" }).click()]);
  await page.getByText(cfg.taskID).first().waitFor({ timeout });
  await settle();
  seen.pages.taskFromConsole = await page.locator("body").innerText();
  seen.pages.taskFromConsoleURL = page.url();

  // The small truths: an openid searched stays out of the address bar; an
  // id copied from asynqmon finds its notification, and its address is
  // the notification's page; ?app= left empty is the first app.
  await search(cfg.openid);
  seen.pages.consoleSearchOpenID = await page.locator("body").innerText();
  seen.pages.consoleSearchOpenIDURL = page.url();
  seen.pages.historyURLs = await page.evaluate(() => [location.href, document.referrer]);
  await search(cfg.taskID);
  seen.pages.consoleSearchTaskID = await page.locator("body").innerText();
  await page.goto(`${api}/admin/notifications/${cfg.taskID}`, { timeout });
  seen.pages.consoleTaskIDURL = page.url();
  seen.pages.emptyAppStatus = (await page.goto(`${api}/admin/feed?state=pending&app=`, { timeout })).status();

  // The outcomes chart; its bar of this hour's deliveries opens the feed
  // of them.
  await page.goto(`${api}/admin/outcomes`, { timeout });
  seen.pages.consoleChartBars = await page.locator("svg.chart rect").count();
  seen.pages.consoleOutcomes = await page.locator("body").innerText();
  await page.setViewportSize({ width: 1366, height: 1280 });
  await shot("console-outcomes");
  await page.setViewportSize({ width: 1366, height: 860 });
  await Promise.all([page.waitForURL(/\/admin\/feed\?/, { timeout }), page.locator('svg.chart a[href*="state=delivered"]').last().click()]);
  seen.pages.consoleChartFeed = await page.locator("body").innerText();
  seen.pages.consoleChartFeedURL = page.url();
  await shot("console-feed-from-chart");
  // The feed by the console's navigation: archived first, then pending.
  await Promise.all([page.waitForURL(/\/admin\/feed$/, { timeout }), page.getByRole("link", { name: "Feed", exact: true }).click()]);
  seen.pages.consoleFeed = await page.locator("body").innerText();
  await Promise.all([page.waitForURL(/state=pending/, { timeout }), page.getByRole("navigation", { name: "States" }).getByRole("link", { name: "pending", exact: true }).click()]);
  seen.pages.consoleFeedPending = await page.locator("body").innerText();
  await shot("console-feed");

  await page.goto(`${api}/admin/health`, { timeout });
  seen.pages.consoleHealth = await page.locator("body").innerText();
  await shot("console-health");
  // The dead webhook events, reached by the console's navigation.
  await Promise.all([page.waitForURL(/\/admin\/webhooks/, { timeout }), page.getByRole("link", { name: "Webhooks", exact: true }).click()]);
  seen.pages.consoleWebhooks = await page.locator("body").innerText();
  await shot("console-webhooks");

  // Methods the console does not serve, and HEAD, from the browser with
  // and without the admin's credentials: the credentials come first. (From
  // asynqmon's page: the console's policy allows no fetch at all.)
  phase = "probes";
  await page.goto(`${root}/`, { timeout });
  await settle();
  seen.probes = await page.evaluate(async (paths) => {
    const out = [];
    for (const [method, path] of paths) {
      for (const credentials of ["omit", "same-origin"]) {
        const r = await fetch(path, { method, credentials, redirect: "manual" });
        out.push({ method, path, credentials, status: r.status, allow: r.headers.get("allow") || "" });
      }
    }
    return out;
  }, [["HEAD", "/admin/feed"], ["PUT", "/admin/"], ["DELETE", "/admin/outcomes"]]);
  phase = "dashboard";

  // Another origin's page submits a plain form to the pause endpoint in the
  // admin's browser: the browser navigates to the answer.
  phase = "foreign";
  for (const from of cfg.foreignPages) {
    const p = await context.newPage();
    const answered = p.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith(":pause"), { timeout });
    await p.goto(from, { timeout });
    const r = await answered;
    seen.forms.push({ from, status: r.status(), body: await r.text(), headers: await r.request().allHeaders() });
    await p.close();
  }
} catch (e) {
  seen.error = String(e.stack || e);
  await page.screenshot({ path: `${cfg.screenshots}/failure.png` }).catch(() => {});
} finally {
  await context.close();
}
process.stdout.write(JSON.stringify(seen));
