package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wxnotify/internal/config"
)

// appsFile writes an APPS_FILE (and a secret file beside it) for a test.
func appsFile(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "club.secret"), []byte("club-app-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "apps.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const twoApps = `apps:
  - name: shop
    appid: wx0123456789abcdef
    secret: {env: SHOP_SECRET}
    push_token: {env: SHOP_PUSH_TOKEN}
    api_keys: {env: SHOP_KEYS}
    send_rate_per_second: 200
  - name: club
    appid: wx1111111111111111
    secret: {file: club.secret}
    templates_file: club-templates.yaml
    queue: club-notifications
`

func appsEnv(path string, extra map[string]string) func(string) string {
	return envOf(map[string]string{
		"APPS_FILE": path, "WECHAT_BASE_URL": "http://127.0.0.1:8090", "API_KEYS": "order-service-key-0001",
		"SHOP_SECRET": "shop-app-secret", "SHOP_PUSH_TOKEN": "shop-push-token", "SHOP_KEYS": "shop-only-key-00001,shop-only-key-00002",
	}, extra)
}

func TestAppsFile(t *testing.T) {
	t.Parallel()
	path := appsFile(t, twoApps)
	api, err := config.LoadAPI(appsEnv(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(api.Apps) != 2 {
		t.Fatalf("apps %+v", api.Apps)
	}
	shop, club := api.Apps[0], api.Apps[1]
	if shop.Name != "shop" || shop.Secret.Reveal() != "shop-app-secret" || shop.Queue != "notifications.wx0123456789abcdef" ||
		shop.PushToken.Reveal() != "shop-push-token" || len(shop.APIKeys) != 2 || shop.APIKeys[1].Reveal() != "shop-only-key-00002" {
		t.Errorf("shop: %+v", shop)
	}
	if club.Secret.Reveal() != "club-app-secret" || club.Queue != "club-notifications" ||
		club.TemplatesFile != filepath.Join(filepath.Dir(path), "club-templates.yaml") || club.PushToken != "" {
		t.Errorf("club: %+v (templates_file relative to the apps file, secret file trimmed)", club)
	}

	// The worker needs neither the push token nor the keys: they may be unset in its environment.
	w, err := config.LoadWorker(appsEnv(path, map[string]string{"SHOP_PUSH_TOKEN": "-", "SHOP_KEYS": "-", "API_KEYS": "-"}))
	if err != nil {
		t.Fatal(err)
	}
	if w.Apps[0].SendRate != 200 || w.Apps[1].SendRate != 500 {
		t.Errorf("send rates %d, %d; want 200 and the default 500", w.Apps[0].SendRate, w.Apps[1].SendRate)
	}
	if q := w.QueueWeights(); len(q) != 2 || q["notifications.wx0123456789abcdef"] != 1 || q["club-notifications"] != 1 {
		t.Errorf("queues %v; want each app's queue, weight 1", q)
	}
}

func TestAppsFileNamesWhatIsWrong(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		env  map[string]string
		want string
	}{
		{twoApps, map[string]string{"SHOP_SECRET": "-"}, `SHOP_SECRET: unset or empty; ` /* …names it as the secret of app "shop" */},
		{twoApps, map[string]string{"WECHAT_APPID": "wx0123456789abcdef"}, "WECHAT_APPID: set per app in APPS_FILE"},
		{twoApps, map[string]string{"WECHAT_PUSH_TOKEN": "x"}, "WECHAT_PUSH_TOKEN: set per app in APPS_FILE"},
		{twoApps, map[string]string{"SHOP_KEYS": "short"}, "APPS_FILE: app shop: api_keys: key 1 is 5 characters"},
		{twoApps, map[string]string{"WECHAT_BASE_URL": "https://api.weixin.qq.com"}, "APPS_FILE: app shop: templates_file: required with WeChat's own"},
		{twoApps, map[string]string{"GRANT_SOURCE": "events"}, "APPS_FILE: app club: push_token: GRANT_SOURCE=events needs the push token"},
		{strings.Replace(twoApps, "name: club", "name: shop", 1), nil, `apps "shop" and "shop" have the same name "shop"`},
		{strings.Replace(twoApps, "wx1111111111111111", "wx0123456789abcdef", 1), nil, `the same appid "wx0123456789abcdef"`},
		{strings.Replace(twoApps, "name: club", "name: Club!", 1), nil, `name "Club!" is not`},
		{strings.Replace(twoApps, "secret: {file: club.secret}", "secret: club-app-secret", 1), nil, "string was used where mapping is expected"},
		{strings.Replace(twoApps, "secret: {file: club.secret}", "secret: {file: missing.secret}", 1), nil, `app "club": secret: no such file`},
		{strings.Replace(twoApps, "secret: {file: club.secret}", "secret: {env: A, file: b}", 1), nil, `app "club": secret names one of env or file`},
		{strings.Replace(twoApps, "queue: club-notifications", "queue: club:1", 1), nil, `queue "club:1" may not hold a colon`},
		{strings.Replace(twoApps, "    send_rate_per_second: 200\n", "    send_rate: 200\n", 1), nil, "unknown field"},
		{"apps: []\n", nil, "lists no apps"},
	} {
		_, err := config.LoadAPI(appsEnv(appsFile(t, tc.file), tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: %v; want %q", tc.env, err, tc.want)
		}
		// A secret written in the file by mistake is not echoed back.
		if err != nil && strings.Contains(err.Error(), "club-app-secret") {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

// A single-app deployment keeps its variables and its queue.
func TestSingleAppFromVariables(t *testing.T) {
	t.Parallel()
	c, err := config.LoadAPI(with(map[string]string{"WECHAT_PUSH_TOKEN": "push-token"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Apps) != 1 || c.Apps[0].Name != "default" || c.Apps[0].AppID != "wx0123456789abcdef" || c.Apps[0].Queue != "notifications" ||
		c.Apps[0].PushToken.Reveal() != "push-token" {
		t.Fatalf("apps %+v", c.Apps)
	}
}

// Each app of APPS_FILE may have a webhook of its own, its secret a
// reference like the others; a problem names the app and the field, and the
// single app's variables are refused beside the file.
func TestAppsFileWebhook(t *testing.T) {
	t.Parallel()
	withHook := strings.Replace(twoApps, "    send_rate_per_second: 200\n",
		"    send_rate_per_second: 200\n    webhook_url: https://shop.example.com/wxnotify\n    webhook_secret: {env: SHOP_WEBHOOK_SECRET}\n", 1)
	path := appsFile(t, withHook)
	w, err := config.LoadWorker(appsEnv(path, map[string]string{"SHOP_WEBHOOK_SECRET": webhookSecret}))
	if err != nil {
		t.Fatal(err)
	}
	shop, club := w.Apps[0], w.Apps[1]
	if shop.WebhookURL != "https://shop.example.com/wxnotify" || shop.WebhookSecret.Reveal() != webhookSecret || club.Webhook() {
		t.Fatalf("shop %+v, club %+v; want the webhook on shop only", shop, club)
	}
	// The api does not deliver webhooks: it needs not the secret.
	if _, err := config.LoadAPI(appsEnv(path, nil)); err != nil {
		t.Fatalf("api without the webhook's secret: %v", err)
	}
	for _, tc := range []struct {
		file string
		env  map[string]string
		want string
	}{
		{withHook, nil, `SHOP_WEBHOOK_SECRET: unset or empty; `},
		{withHook, map[string]string{"SHOP_WEBHOOK_SECRET": "short"}, `app "shop": webhook_secret: 5 bytes`},
		{strings.Replace(withHook, "https://shop", "http://shop", 1), map[string]string{"SHOP_WEBHOOK_SECRET": webhookSecret}, `app "shop": webhook_url: http://shop.example.com: https is required`},
		{strings.Replace(withHook, "    webhook_secret: {env: SHOP_WEBHOOK_SECRET}\n", "", 1), nil, `app "shop": webhook_secret: required with the webhook's URL`},
		{withHook, map[string]string{"SHOP_WEBHOOK_SECRET": webhookSecret, "WEBHOOK_URL": "https://x.example.com/"}, "WEBHOOK_URL: set per app in APPS_FILE"},
	} {
		_, err := config.LoadWorker(appsEnv(appsFile(t, tc.file), tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: %v; want %q", tc.env, err, tc.want)
		}
	}
}
