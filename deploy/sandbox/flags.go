package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"wxnotify/internal/sandbox"
)

type options struct {
	addr     string
	logLevel slog.Level
	cfg      sandbox.Config
	push     sandbox.Push
}

// parseFlags reads the settings; each flag's default is its environment
// variable when set, so the program configures the same way in a shell, a
// container or the dev stack.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(out)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var o options
	var templates, level string
	var apps []string
	var f sandbox.Faults
	var latency, hangFor time.Duration
	var errs []error
	fs.StringVar(&o.addr, "addr", env("SANDBOX_ADDR", ":8090"), "listen address (SANDBOX_ADDR)")
	fs.StringVar(&o.cfg.AppID, "appid", env("WECHAT_APPID", "wxsandbox00000000"), "the fake mini program's appid (WECHAT_APPID)")
	fs.StringVar(&o.cfg.AppSecret, "secret", env("WECHAT_APP_SECRET", "sandbox-app-secret"), "its app secret (WECHAT_APP_SECRET)")
	// A Func flag, so that neither -h nor a parse error shows the secrets.
	fs.Func("apps", appsUsage, func(v string) error { apps = append(apps, v); return nil })
	fs.StringVar(&templates, "templates", env("SANDBOX_TEMPLATES", ""), "JSON file of template definitions; the built-in order_arrived and transit templates when empty (SANDBOX_TEMPLATES)")
	errs = append(errs, durationVar(fs, &o.cfg.TokenLifetime, "token-lifetime", env("SANDBOX_TOKEN_LIFETIME", "2h"), "access_token lifetime, WeChat's is 2h (SANDBOX_TOKEN_LIFETIME)"))
	errs = append(errs, durationVar(fs, &o.cfg.CodeLifetime, "code-lifetime", env("SANDBOX_CODE_LIFETIME", "5m"), "wx.login code lifetime (SANDBOX_CODE_LIFETIME)"))
	errs = append(errs, rateVar(fs, &f.BusyRate, "busy-rate", env("SANDBOX_BUSY_RATE", "0"), "probability of errcode -1 (SANDBOX_BUSY_RATE)"))
	errs = append(errs, rateVar(fs, &f.HTTP500Rate, "http500-rate", env("SANDBOX_HTTP500_RATE", "0"), "probability of HTTP 500 (SANDBOX_HTTP500_RATE)"))
	errs = append(errs, rateVar(fs, &f.HangRate, "hang-rate", env("SANDBOX_HANG_RATE", "0"), "probability of hanging past the client timeout (SANDBOX_HANG_RATE)"))
	errs = append(errs, rateVar(fs, &f.LostReplyRate, "lost-reply-rate", env("SANDBOX_LOST_REPLY_RATE", "0"), "probability of acting and then never answering (SANDBOX_LOST_REPLY_RATE)"))
	errs = append(errs, rateVar(fs, &f.RateLimitRate, "rate-limit-rate", env("SANDBOX_RATE_LIMIT_RATE", "0"), "probability of errcode 45011 (SANDBOX_RATE_LIMIT_RATE)"))
	errs = append(errs, durationVar(fs, &latency, "latency", env("SANDBOX_LATENCY", "0s"), "latency added to every WeChat call (SANDBOX_LATENCY)"))
	errs = append(errs, durationVar(fs, &hangFor, "hang-for", env("SANDBOX_HANG_FOR", "60s"), "how long a hang lasts (SANDBOX_HANG_FOR)"))
	fs.StringVar(&o.push.URL, "push-url", env("SANDBOX_PUSH_URL", ""), "send WeChat's message pushes here, e.g. http://127.0.0.1:8080/v1/wx/events; "+appIDPlaceholder+" in it stands for the pushing app's appid (SANDBOX_PUSH_URL)")
	fs.StringVar(&o.push.Token, "push-token", env("WECHAT_PUSH_TOKEN", ""), "the push token they are signed with (WECHAT_PUSH_TOKEN)")
	fs.StringVar(&o.push.AESKey, "push-aes-key", env("WECHAT_PUSH_AES_KEY", ""), "EncodingAESKey: send them in safe mode (WECHAT_PUSH_AES_KEY)")
	fs.BoolVar(&o.push.XML, "push-xml", env("SANDBOX_PUSH_XML", "") == "true", "send XML instead of JSON (SANDBOX_PUSH_XML=true)")
	fs.StringVar(&level, "log-level", env("LOG_LEVEL", "info"), "debug logs every WeChat call (LOG_LEVEL)")
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := o.logLevel.UnmarshalText([]byte(level)); err != nil {
		return o, fmt.Errorf("-log-level / LOG_LEVEL %q: want debug, info, warn or error", level)
	}
	if v := getenv("SANDBOX_APPS"); len(apps) == 0 && v != "" {
		apps = []string{v}
	}
	var err error
	if o.cfg.Apps, err = parseApps(apps, o.push); err != nil {
		return o, err
	}
	o.push.URL = pushURLFor(o.push.URL, o.cfg.AppID)
	f.Latency, f.HangFor = sandbox.Duration(latency), sandbox.Duration(hangFor)
	o.cfg.Faults = f
	o.cfg.Templates = sandbox.DefaultTemplates()
	if templates != "" {
		var data []byte
		data, err = os.ReadFile(templates)
		if err != nil {
			return o, fmt.Errorf("-templates / SANDBOX_TEMPLATES: %w", err)
		}
		if o.cfg.Templates, err = sandbox.ParseTemplates(data); err != nil {
			return o, fmt.Errorf("-templates / SANDBOX_TEMPLATES %s: %w", templates, err)
		}
	}
	return o, nil
}

// durationVar is a duration flag whose default is a string (from the environment),
// so that a bad environment value is reported like a bad flag.
func durationVar(fs *flag.FlagSet, p *time.Duration, name, def, usage string) error {
	fs.Func(name, usage+" (default "+def+")", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("%q is not a duration like 90s or 2h", s)
		}
		*p = d
		return nil
	})
	return setDefault(fs, name, def, usage)
}

// rateVar is a probability flag in [0, 1].
func rateVar(fs *flag.FlagSet, p *float64, name, def, usage string) error {
	fs.Func(name, usage+" (default "+def+")", func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || v > 1 {
			return fmt.Errorf("%q is not a probability between 0 and 1", s)
		}
		*p = v
		return nil
	})
	return setDefault(fs, name, def, usage)
}

// setDefault applies a flag's default, which may come from the environment:
// a bad value is reported under the variable's name (the usage's last word).
func setDefault(fs *flag.FlagSet, name, def, usage string) error {
	if err := fs.Set(name, def); err != nil {
		v := usage[strings.LastIndex(usage, "(")+1 : len(usage)-1]
		return fmt.Errorf("%s: %w", v, err)
	}
	return nil
}
