package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"

	"wxnotify/internal/task"
)

// App is one mini program a deployment serves. With APPS_FILE unset there is
// one, named "default", from WECHAT_APPID, WECHAT_APP_SECRET and the
// single-app variables; APPS_FILE lists several.
type App struct {
	// Name is the app's short name: in the push URL (/v1/wx/events/<name>),
	// the order service's "app" field, metrics labels and the console.
	Name   string
	AppID  string
	Secret Secret
	// Queue is the app's asynq queue: "notifications" for the single app of
	// the variables (the queue of every deployment before APPS_FILE),
	// "notifications.<appid>" for an app of APPS_FILE unless it sets one.
	Queue string

	// The api's: the template registry file ("" is the built-in one), the
	// message push's token and key, the order-service keys that may act as
	// this app only (API_KEYS act as any).
	TemplatesFile string
	PushToken     Secret
	PushAESKey    Secret
	APIKeys       []Secret
	// DefaultChannel is the channel of a notification that carries a
	// WeChat Pay order and names none: auto, order or subscribe.
	DefaultChannel string

	// The worker's: sends per second for the appid across every worker.
	SendRate int
	// The worker's: where and with what key it tells the order service how
	// each notification ended (package webhook); both "" when the app has
	// no webhook.
	WebhookURL    string
	WebhookSecret Secret
}

// Webhook reports whether the app has a webhook.
func (a App) Webhook() bool { return a.WebhookURL != "" }

// appsFile is APPS_FILE's shape: every field of an app is checked, unknown
// ones refused, and secrets are references, never values.
type appsFile struct {
	Apps []appEntry `yaml:"apps"`
}

type appEntry struct {
	Name          string     `yaml:"name"`
	AppID         string     `yaml:"appid"`
	Secret        *reference `yaml:"secret"`
	Queue         string     `yaml:"queue"`
	TemplatesFile string     `yaml:"templates_file"`
	PushToken     *reference `yaml:"push_token"`
	PushAESKey    *reference `yaml:"push_aes_key"`
	APIKeys       *reference `yaml:"api_keys"`
	SendRate      int        `yaml:"send_rate_per_second"`
	// DefaultChannel: "auto" (default), "order" or "subscribe".
	DefaultChannel string     `yaml:"default_channel"`
	WebhookURL     string     `yaml:"webhook_url"`
	WebhookSecret  *reference `yaml:"webhook_secret"`
}

// reference says where a secret is: an environment variable or a file.
type reference struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

var appName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// appsReader resolves the secret references of APPS_FILE.
type appsReader struct {
	path   string
	getenv func(string) string
	p      *problems
}

// readApps reads the apps of APPS_FILE. uses says which program's fields to
// resolve, so that the worker does not ask for the api's push token; the
// rest is checked for shape only.
func readApps(path string, getenv func(string) string, p *problems, uses func(f string) bool) []App {
	data, err := os.ReadFile(path)
	if err != nil {
		p.add("APPS_FILE", "%v", err)
		return nil
	}
	var file appsFile
	if err := yaml.NewDecoder(bytes.NewReader(data), yaml.Strict()).Decode(&file); err != nil {
		p.add("APPS_FILE", "%s: %s", path, yaml.FormatError(err, false, false))
		return nil
	}
	if len(file.Apps) == 0 {
		p.add("APPS_FILE", "%s lists no apps (want apps: [{name, appid, secret}, …])", path)
		return nil
	}
	r := appsReader{path: path, getenv: getenv, p: p}
	apps := make([]App, 0, len(file.Apps))
	for i, e := range file.Apps {
		at := fmt.Sprintf("%s: apps[%d]", path, i)
		if e.Name != "" {
			at = fmt.Sprintf("%s: app %q", path, e.Name)
		}
		a := App{Name: e.Name, AppID: e.AppID, Queue: e.Queue, SendRate: e.SendRate}
		if !appName.MatchString(e.Name) {
			p.add("APPS_FILE", "%s: name %q is not 1-32 of a-z, 0-9, _ and - (starting with a letter or digit)", at, e.Name)
		}
		if !validAppID(e.AppID) {
			p.add("APPS_FILE", "%s: appid %q is not an appid (like wx0123456789abcdef)", at, e.AppID)
		}
		if a.Queue == "" {
			a.Queue = task.QueueName + "." + e.AppID
		} else if strings.ContainsAny(a.Queue, ": ") {
			p.add("APPS_FILE", "%s: queue %q may not hold a colon or a space", at, a.Queue)
		}
		a.Secret = r.secret(at, "secret", e.Secret, true)
		if uses("api") {
			if e.TemplatesFile != "" && !filepath.IsAbs(e.TemplatesFile) {
				e.TemplatesFile = filepath.Join(filepath.Dir(path), e.TemplatesFile)
			}
			a.TemplatesFile = e.TemplatesFile
			a.DefaultChannel = e.DefaultChannel
			if a.DefaultChannel == "" {
				a.DefaultChannel = "auto"
			}
			checkChannel(p, "APPS_FILE", at+": default_channel ", a.DefaultChannel)
			a.PushToken = r.secret(at, "push_token", e.PushToken, false)
			a.PushAESKey = r.secret(at, "push_aes_key", e.PushAESKey, false)
			for _, k := range strings.Split(r.secret(at, "api_keys", e.APIKeys, false).Reveal(), ",") {
				if k = strings.TrimSpace(k); k != "" {
					a.APIKeys = append(a.APIKeys, Secret(k))
				}
			}
		}
		if uses("worker") {
			if a.SendRate == 0 {
				a.SendRate = 500
			} else if a.SendRate < 1 {
				p.add("APPS_FILE", "%s: send_rate_per_second %d must be at least 1", at, a.SendRate)
			}
			a.WebhookURL = e.WebhookURL
			a.WebhookSecret = r.secret(at, "webhook_secret", e.WebhookSecret, false)
			if e.WebhookSecret == nil || a.WebhookSecret != "" { // an unresolved reference is reported already
				checkWebhook(p, setting{"APPS_FILE", at + ": webhook_url: "}, setting{"APPS_FILE", at + ": webhook_secret: "}, a.WebhookURL, a.WebhookSecret)
			}
		}
		apps = append(apps, a)
	}
	checkUnique(p, apps)
	return apps
}

// secret resolves a reference; a missing required one, an unset variable
// or an unreadable file is a problem named by the app and the field.
func (r appsReader) secret(at, field string, ref *reference, required bool) Secret {
	switch {
	case ref == nil:
		if required {
			r.p.add("APPS_FILE", "%s: %s is required ({env: VARIABLE} or {file: path})", at, field)
		}
		return ""
	case (ref.Env == "") == (ref.File == ""):
		r.p.add("APPS_FILE", "%s: %s names one of env or file", at, field)
		return ""
	case ref.Env != "":
		v := r.getenv(ref.Env)
		if v == "" {
			r.p.add(ref.Env, "unset or empty; %s names it as the %s of %s", r.path, field, strings.TrimPrefix(at, r.path+": "))
		}
		return Secret(v)
	}
	path := ref.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(r.path), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r.p.add("APPS_FILE", "%s: %s: %v", at, field, errors.Unwrap(err))
		return ""
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		r.p.add("APPS_FILE", "%s: %s: %s is empty", at, field, path)
	}
	return Secret(v)
}

// checkUnique refuses two apps with one name, appid or queue, and a name
// that is another app's appid (the order service may name either).
func checkUnique(p *problems, apps []App) {
	seen := map[string]string{}
	claim := func(kind, v, app string) {
		if other, dup := seen[kind+v]; dup {
			p.add("APPS_FILE", "apps %q and %q have the same %s %q", other, app, kind, v)
		}
		seen[kind+v] = app
	}
	for _, a := range apps {
		claim("name", a.Name, a.Name)
		claim("appid", a.AppID, a.Name)
		claim("queue", a.Queue, a.Name)
	}
	for _, a := range apps {
		if other, ok := seen["appid"+a.Name]; ok && other != a.Name {
			p.add("APPS_FILE", "app name %q is the appid of app %q", a.Name, other)
		}
	}
}

func validAppID(id string) bool {
	return id != "" && len(id) <= 64 && !strings.ContainsAny(id, " /:{}")
}

// singleAppVariables are the per-app variables APPS_FILE replaces: set with
// it, they would be ignored, so they are refused.
var singleAppVariables = []string{"WECHAT_APPID", "WECHAT_APP_SECRET", "TEMPLATES_FILE", "WECHAT_PUSH_TOKEN", "WECHAT_PUSH_AES_KEY", "SEND_RATE_PER_SECOND",
	"DEFAULT_CHANNEL", "WEBHOOK_URL", "WEBHOOK_SECRET"}

// loadApps returns the deployment's apps: APPS_FILE's, or the one the
// variables describe (single is built by the caller from them).
func loadApps(file string, getenv func(string) string, p *problems, program string, single App) []App {
	if file == "" {
		if single.AppID == "" || !validAppID(single.AppID) {
			p.add("WECHAT_APPID", "%q is not an appid (like wx0123456789abcdef); set it, or list the apps in APPS_FILE", single.AppID)
		}
		if single.Secret == "" {
			p.add("WECHAT_APP_SECRET", "required (or list the apps in APPS_FILE)")
		}
		return []App{single}
	}
	for _, v := range singleAppVariables {
		if getenv(v) != "" {
			p.add(v, "set per app in APPS_FILE, not with APPS_FILE")
		}
	}
	return readApps(file, getenv, p, func(f string) bool { return f == program })
}

// AppNames lists the apps' names, for the start-up log line.
func AppNames(apps []App) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.Name + "=" + a.AppID
	}
	return out
}

// checkChannel refuses a default channel that is not one of the three.
func checkChannel(p *problems, variable, at, channel string) {
	switch task.Channel(channel) {
	case task.ChannelAuto, task.ChannelOrder, task.ChannelSubscribe:
		return
	}
	p.add(variable, "%s%q is not auto, order or subscribe", at, channel)
}
