package config_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/config"
)

// minimal is the least environment the API starts with.
func minimal() map[string]string {
	return map[string]string{
		"WECHAT_APPID":      "wx0123456789abcdef",
		"WECHAT_APP_SECRET": "app-secret-value",
		"WECHAT_BASE_URL":   "http://127.0.0.1:8090",
		"API_KEYS":          "order-service-key-0001,order-service-key-0002",
	}
}

func with(extra map[string]string) func(string) string { return envOf(minimal(), extra) }

// envOf is base with extra's variables set, or unset where the value is "-".
func envOf(m, extra map[string]string) func(string) string {
	for k, v := range extra {
		if v == "-" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}

func TestLoadAPIDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.LoadAPI(with(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.SessionTTL != 720*time.Hour || c.Retention != 168*time.Hour || len(c.APIKeys) != 2 ||
		c.UserJWT.Enabled() || c.UserJWT.Claim != "sub" || c.MaxBodyBytes != 65536 || c.Redis.Timeout != 2*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	if c.APIKeys[1].Reveal() != "order-service-key-0002" {
		t.Fatalf("API_KEYS not split on commas: %v", c.APIKeys)
	}
}

func TestLoadAPINamesTheVariable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WECHAT_APPID": "-"}, `WECHAT_APPID: "" is not an appid`},
		{map[string]string{"WECHAT_APP_SECRET": "-"}, `WECHAT_APP_SECRET: required`},
		{map[string]string{"API_KEYS": "-"}, `API_KEYS: required`},
		{map[string]string{"APPS_FILE": "/nonexistent/apps.yaml"}, `APPS_FILE: open /nonexistent/apps.yaml`},
		{map[string]string{"API_KEYS": "short"}, "API_KEYS: key 1 is 5 characters"},
		{map[string]string{"HTTP_ADDR": "8080"}, "HTTP_ADDR:"},
		{map[string]string{"REDIS_URL": "http://x"}, `REDIS_URL: scheme "http"`},
		{map[string]string{"REDIS_TIMEOUT": "soon"}, "REDIS_TIMEOUT"},
		{map[string]string{"WECHAT_BASE_URL": "api.weixin.qq.com"}, "WECHAT_BASE_URL:"},
		{map[string]string{"WECHAT_BASE_URL": "-"}, "TEMPLATES_FILE: required with WeChat's own WECHAT_BASE_URL"},
		{map[string]string{"USER_JWT_SECRET": "too-short"}, "USER_JWT_SECRET: 9 bytes; HS256 needs at least 32"},
		{map[string]string{"USER_JWT_PUBLIC_KEY": "not pem"}, "USER_JWT_PUBLIC_KEY: no PEM block"},
		{map[string]string{"USER_JWT_SECRET": strings.Repeat("k", 32), "USER_JWT_PUBLIC_KEY": ecKey(t)}, "not both"},
		{map[string]string{"ADMIN_USER": "ops"}, "ADMIN_PASSWORD: ADMIN_USER and ADMIN_PASSWORD are set together"},
		{map[string]string{"ADMIN_USER": "ops", "ADMIN_PASSWORD": "short"}, "ADMIN_PASSWORD: 5 characters"},
		{map[string]string{"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES: 10 is not between"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL:"},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy"}, `TRUSTED_PROXIES: "proxy"`},
		{map[string]string{"SESSION_TTL": "0s"}, "SESSION_TTL: 0s must be above zero"},
	} {
		_, err := config.LoadAPI(with(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: %v; want %q", tc.env, err, tc.want)
		}
	}
}

func TestLoadAPIReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := config.LoadAPI(with(map[string]string{"HTTP_ADDR": "x", "LOG_LEVEL": "x", "MAX_RETRY": "-1"}))
	for _, v := range []string{"HTTP_ADDR", "LOG_LEVEL", "MAX_RETRY"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("error %v does not name %s", err, v)
		}
	}
}

func TestPublicKeyAccepted(t *testing.T) {
	t.Parallel()
	c, err := config.LoadAPI(with(map[string]string{"USER_JWT_PUBLIC_KEY": ecKey(t)}))
	if err != nil || !c.UserJWT.Enabled() {
		t.Fatalf("EC public key: %v", err)
	}
}

// Secrets never show when the configuration is printed or logged.
func TestSecretsAreMasked(t *testing.T) {
	t.Parallel()
	c, err := config.LoadAPI(with(map[string]string{
		"REDIS_URL": "redis://:redis-pass-123@cache:6379/0", "ADMIN_USER": "ops", "ADMIN_PASSWORD": "admin-pass-123456",
		"USER_JWT_SECRET": strings.Repeat("j", 40),
	}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	out := buf.String() + fmt.Sprintf("%v %+v", c, c)
	for _, s := range []string{"app-secret-value", "order-service-key-0001", "redis-pass-123", "admin-pass-123456", strings.Repeat("j", 40)} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q shows in %s", s, out)
		}
	}
	if !strings.Contains(buf.String(), "wx0123456789abcdef") {
		t.Errorf("the log line lost the non-secret settings: %s", buf.String())
	}
}

func ecKey(t *testing.T) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestProductionWeChatNeedsTheRegistryWhateverTheURLForm(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"https://api.weixin.qq.com", "https://api.weixin.qq.com/", "https://API.weixin.qq.com", "https://sh.api.weixin.qq.com"} {
		if _, err := config.LoadAPI(with(map[string]string{"WECHAT_BASE_URL": u})); err == nil || !strings.Contains(err.Error(), "TEMPLATES_FILE") {
			t.Errorf("WECHAT_BASE_URL %s without TEMPLATES_FILE: %v", u, err)
		}
	}
	if _, err := config.LoadAPI(with(map[string]string{"WECHAT_BASE_URL": "http://wechat-sandbox:8090"})); err != nil {
		t.Errorf("sandbox URL: %v", err)
	}
}

// The default channel is one of the three, named by its variable or its
// APPS_FILE field when it is not.
func TestDefaultChannel(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0", "WECHAT_BASE_URL": "http://127.0.0.1:8090", "WECHAT_APPID": "wx0123456789abcdef", "WECHAT_APP_SECRET": "s3cret-0123456789", "API_KEYS": "order-service-key-0001"}
	getenv := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return env[k]
		}
	}
	c, err := config.LoadAPI(getenv(nil))
	if err != nil || c.Apps[0].DefaultChannel != "auto" {
		t.Fatalf("default: %q, %v; want auto", c.Apps[0].DefaultChannel, err)
	}
	if c, err := config.LoadAPI(getenv(map[string]string{"DEFAULT_CHANNEL": "order"})); err != nil || c.Apps[0].DefaultChannel != "order" {
		t.Fatalf("DEFAULT_CHANNEL=order: %+v, %v", c.Apps, err)
	}
	if _, err := config.LoadAPI(getenv(map[string]string{"DEFAULT_CHANNEL": "sms"})); err == nil || !strings.Contains(err.Error(), "DEFAULT_CHANNEL") {
		t.Fatalf("DEFAULT_CHANNEL=sms: %v; want an error naming it", err)
	}
}
