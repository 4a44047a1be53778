package config

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"wxnotify/internal/task"
)

// API is the HTTP service's configuration.
type API struct {
	HTTPAddr        string        `env:"HTTP_ADDR" envDefault:":8080"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	Redis           Redis
	WeChat          WeChat
	Logging         Logging

	// AppsFile lists the mini programs served (apps.go); without it the
	// WECHAT_* variables describe the one app.
	AppsFile string `env:"APPS_FILE"`
	// Apps are the mini programs served, in APPS_FILE's order.
	Apps []App `env:"-"`

	// APIKeys are the order service's bearer keys, comma-separated (several
	// allow rotation without downtime); they act as any app.
	APIKeys []Secret `env:"API_KEYS" envSeparator:","`

	// UserJWT, when a key is set, makes login require the business's own JWT.
	UserJWT UserJWT

	SessionTTL time.Duration `env:"SESSION_TTL" envDefault:"720h"`
	// TemplatesFile is the template registry; the built-in one (the sandbox's
	// template ids) when empty, which only makes sense off production WeChat.
	TemplatesFile string `env:"TEMPLATES_FILE"`

	// Retention is how long a notification (and so its dedupe_key) is kept
	// after it completes; a repeat within it is answered as a duplicate.
	Retention time.Duration `env:"NOTIFICATION_RETENTION" envDefault:"168h"`
	// MaxRetry is how many times a failing send is retried before it is
	// archived; with the worker's back-off capped at an hour, 35 is about a day.
	MaxRetry int `env:"MAX_RETRY" envDefault:"35"`

	// PushToken enables /v1/wx/events, WeChat's message push, with the token
	// set in the mini program's console; PushAESKey is its EncodingAESKey
	// for safe mode.
	PushToken  Secret `env:"WECHAT_PUSH_TOKEN"`
	PushAESKey Secret `env:"WECHAT_PUSH_AES_KEY"`
	// GrantSource says who counts grants: "client" (the mini program's
	// reports; pushes only zero them) or "events" (WeChat's popup pushes;
	// the reports are ignored for counting).
	GrantSource string `env:"GRANT_SOURCE" envDefault:"client"`

	AdminUser     string `env:"ADMIN_USER"`
	AdminPassword Secret `env:"ADMIN_PASSWORD"`

	MaxBodyBytes       int64 `env:"MAX_BODY_BYTES" envDefault:"65536"`
	LoginRatePerMinute int   `env:"LOGIN_RATE_PER_MINUTE" envDefault:"20"`
	// DefaultChannel is the single app's default_channel.
	DefaultChannel string   `env:"DEFAULT_CHANNEL" envDefault:"auto"`
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`
}

// UserJWT verifies the business's JWT at login: HS256 with Secret, or
// RS256/ES256 with PublicKey (PEM). Claim names the user id (default "sub").
type UserJWT struct {
	Secret    Secret        `env:"USER_JWT_SECRET"`
	PublicKey string        `env:"USER_JWT_PUBLIC_KEY"`
	Claim     string        `env:"USER_JWT_CLAIM" envDefault:"sub"`
	Issuer    string        `env:"USER_JWT_ISSUER"`
	Audience  string        `env:"USER_JWT_AUDIENCE"`
	Leeway    time.Duration `env:"USER_JWT_LEEWAY" envDefault:"30s"`
}

// Enabled reports whether login requires a JWT.
func (j UserJWT) Enabled() bool { return j.Secret != "" || j.PublicKey != "" }

// LoadAPI reads and checks the API's configuration.
func LoadAPI(getenv func(string) string) (API, error) {
	c, err := load[API](getenv)
	if err != nil {
		return c, err
	}
	var p problems
	c.Apps = loadApps(c.AppsFile, getenv, &p, "api", App{
		Name: "default", AppID: c.WeChat.AppID, Secret: c.WeChat.AppSecret, Queue: task.QueueName,
		TemplatesFile: c.TemplatesFile, PushToken: c.PushToken, PushAESKey: c.PushAESKey, DefaultChannel: c.DefaultChannel,
	})
	if c.AppsFile == "" {
		checkChannel(&p, "DEFAULT_CHANNEL", "", c.DefaultChannel)
	}
	c.validate(&p)
	return c, p.err()
}

func (c API) validate(p *problems) {
	p.checkAddr("HTTP_ADDR", c.HTTPAddr)
	p.checkPositive("SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
	c.Redis.validate(p)
	c.WeChat.validate(p)
	c.Logging.validate(p)
	keys := len(c.APIKeys)
	checkKeys(p, "API_KEYS", "", c.APIKeys)
	for _, a := range c.Apps {
		keys += len(a.APIKeys)
		checkKeys(p, "APPS_FILE", "app "+a.Name+": api_keys: ", a.APIKeys)
	}
	if keys == 0 {
		p.add("API_KEYS", "required: the order service's keys (or per app, api_keys in APPS_FILE)")
	}
	c.UserJWT.validate(p)
	p.checkPositive("SESSION_TTL", c.SessionTTL)
	for _, a := range c.Apps {
		c.validateApp(p, a)
	}
	p.checkPositive("NOTIFICATION_RETENTION", c.Retention)
	if c.MaxRetry < 0 || c.MaxRetry > 1000 {
		p.add("MAX_RETRY", "%d is not between 0 and 1000", c.MaxRetry)
	}
	if c.GrantSource != "client" && c.GrantSource != "events" {
		p.add("GRANT_SOURCE", "%q is not client or events", c.GrantSource)
	}
	if (c.AdminUser == "") != (c.AdminPassword == "") {
		p.add("ADMIN_PASSWORD", "ADMIN_USER and ADMIN_PASSWORD are set together or not at all")
	} else if n := len(c.AdminPassword.Reveal()); c.AdminUser != "" && n < 12 {
		p.add("ADMIN_PASSWORD", "%d characters; use at least 12", n)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 10<<20 {
		p.add("MAX_BODY_BYTES", "%d is not between 1024 and 10485760", c.MaxBodyBytes)
	}
	if c.LoginRatePerMinute < 1 {
		p.add("LOGIN_RATE_PER_MINUTE", "%d must be at least 1", c.LoginRatePerMinute)
	}
	for _, tp := range c.TrustedProxies {
		if net.ParseIP(tp) == nil {
			if _, _, err := net.ParseCIDR(tp); err != nil {
				p.add("TRUSTED_PROXIES", "%q is not an IP address or CIDR range", tp)
			}
		}
	}
}

// validateApp checks what the api needs of one app; a problem is named by
// the variable of a single app, or by APPS_FILE and the app's name.
func (c API) validateApp(p *problems, a App) {
	name := func(variable, field string) (string, string) {
		if c.AppsFile == "" {
			return variable, ""
		}
		return "APPS_FILE", "app " + a.Name + ": " + field + ": "
	}
	if a.TemplatesFile == "" && c.WeChat.Production() {
		v, at := name("TEMPLATES_FILE", "templates_file")
		p.add(v, "%srequired with WeChat's own WECHAT_BASE_URL: the built-in registry has the sandbox's template ids", at)
	}
	if c.GrantSource == "events" && a.PushToken == "" {
		v, at := name("GRANT_SOURCE", "push_token")
		p.add(v, "%sGRANT_SOURCE=events needs the push token: the grants would come from pushes that are not received", at)
	}
	if n := len(a.PushAESKey.Reveal()); a.PushAESKey != "" && n != 43 {
		v, at := name("WECHAT_PUSH_AES_KEY", "push_aes_key")
		p.add(v, "%s%d characters; WeChat's EncodingAESKey has 43", at, n)
	}
	if a.PushAESKey != "" && a.PushToken == "" {
		v, at := name("WECHAT_PUSH_AES_KEY", "push_aes_key")
		p.add(v, "%sset the push token too: safe-mode pushes are signed with it", at)
	}
}

// checkKeys refuses order-service keys too short to be secret.
func checkKeys(p *problems, variable, at string, keys []Secret) {
	for i, k := range keys {
		if n := len(k.Reveal()); n < 16 {
			p.add(variable, "%skey %d is %d characters; use at least 16 random characters", at, i+1, n)
		}
	}
}

func (j UserJWT) validate(p *problems) {
	if j.Secret != "" && j.PublicKey != "" {
		p.add("USER_JWT_PUBLIC_KEY", "set USER_JWT_SECRET (HS256) or USER_JWT_PUBLIC_KEY (RS256/ES256), not both")
	}
	if n := len(j.Secret.Reveal()); j.Secret != "" && n < 32 {
		p.add("USER_JWT_SECRET", "%d bytes; HS256 needs at least 32", n)
	}
	if j.PublicKey != "" {
		if _, err := ParsePublicKey(j.PublicKey); err != nil {
			p.add("USER_JWT_PUBLIC_KEY", "%v", err)
		}
	}
	if strings.TrimSpace(j.Claim) == "" {
		p.add("USER_JWT_CLAIM", "empty")
	}
	if j.Leeway < 0 || j.Leeway > 5*time.Minute {
		p.add("USER_JWT_LEEWAY", "%s is not between 0 and 5m", j.Leeway)
	}
}

var (
	errNoPEM   = errors.New("no PEM block found (want -----BEGIN PUBLIC KEY-----)")
	errKeyType = errors.New("not an RSA or ECDSA public key")
)

// ParsePublicKey reads an RSA or ECDSA public key in PEM (PKIX, or PKCS#1 for RSA).
func ParsePublicKey(pemText string) (any, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errNoPEM
	}
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		switch k.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			return k, nil
		}
		return nil, errKeyType
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errKeyType
}

// LogValue shows the configuration with its secrets masked, for the start-up log line.
func (c API) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("http_addr", c.HTTPAddr),
		slog.String("redis", c.Redis.Target().String()),
		slog.Any("apps", AppNames(c.Apps)),
		slog.String("wechat_base_url", c.WeChat.BaseURL),
		slog.Int("api_keys", len(c.APIKeys)),
		slog.Bool("user_jwt", c.UserJWT.Enabled()),
		slog.String("session_ttl", c.SessionTTL.String()),
		slog.String("retention", c.Retention.String()),
		slog.Int("max_retry", c.MaxRetry),
		slog.Bool("dashboard", c.AdminUser != ""),
		slog.String("grant_source", c.GrantSource),
	)
}
