package config

import (
	"net/url"
	"strings"
	"time"

	"wxnotify/internal/redisconn"
)

// Redis is where the queue, the shared token and subscriber state live.
type Redis struct {
	URL     Secret        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"` // may carry a password
	Timeout time.Duration `env:"REDIS_TIMEOUT" envDefault:"2s"`
}

// Target parses URL; Validate has already checked that it parses.
func (r Redis) Target() redisconn.Target {
	t, _ := redisconn.Parse(r.URL.Reveal(), r.Timeout)
	return t
}

func (r Redis) validate(p *problems) {
	p.checkPositive("REDIS_TIMEOUT", r.Timeout)
	if _, err := redisconn.Parse(r.URL.Reveal(), r.Timeout); err != nil {
		p.add("REDIS_URL", "%v", err)
	}
}

// WeChat is where WeChat is, and the mini program of a single-app deployment.
type WeChat struct {
	// AppID and AppSecret are the single app's; APPS_FILE replaces them.
	AppID     string        `env:"WECHAT_APPID"`
	AppSecret Secret        `env:"WECHAT_APP_SECRET"`
	BaseURL   string        `env:"WECHAT_BASE_URL" envDefault:"https://api.weixin.qq.com"`
	Timeout   time.Duration `env:"WECHAT_TIMEOUT" envDefault:"5s"`
}

// Production reports whether BaseURL is WeChat itself rather than a sandbox:
// any weixin.qq.com host, whatever the path or a trailing slash.
func (w WeChat) Production() bool {
	u, err := url.Parse(w.BaseURL)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "weixin.qq.com" || strings.HasSuffix(h, ".weixin.qq.com")
}

func (w WeChat) validate(p *problems) {
	p.checkHTTPURL("WECHAT_BASE_URL", w.BaseURL)
	p.checkPositive("WECHAT_TIMEOUT", w.Timeout)
}

// Logging is how a program logs, and where it may be profiled.
type Logging struct {
	Level  string `env:"LOG_LEVEL" envDefault:"info"`
	Format string `env:"LOG_FORMAT" envDefault:"json"`
	// PprofAddr, when set, serves net/http/pprof on its own listener (keep
	// it on localhost: profiles reveal internals).
	PprofAddr string `env:"PPROF_ADDR"`
}

func (l Logging) validate(p *problems) {
	p.checkLogLevel(l.Level)
	if l.Format != "json" && l.Format != "text" {
		p.add("LOG_FORMAT", "%q is not json or text", l.Format)
	}
	if l.PprofAddr != "" {
		p.checkAddr("PPROF_ADDR", l.PprofAddr)
	}
}
