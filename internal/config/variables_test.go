package config_test

import (
	"testing"

	"wxnotify/internal/config"
)

func TestVariables(t *testing.T) {
	t.Parallel()
	byName := map[string]config.Variable{}
	for _, v := range config.APIVariables() {
		byName[v.Name] = v
	}
	for name, want := range map[string]config.Variable{
		// Required unless APPS_FILE: checked by LoadAPI, not by the parser.
		"API_KEYS":          {Name: "API_KEYS", Secret: true},
		"WECHAT_APP_SECRET": {Name: "WECHAT_APP_SECRET", Secret: true},
		"REDIS_URL":         {Name: "REDIS_URL", Default: "redis://127.0.0.1:6379/0", Secret: true},
		"HTTP_ADDR":         {Name: "HTTP_ADDR", Default: ":8080"},
		"ADMIN_PASSWORD":    {Name: "ADMIN_PASSWORD", Secret: true},
	} {
		if byName[name] != want {
			t.Errorf("%s = %+v; want %+v", name, byName[name], want)
		}
	}
	w := map[string]bool{}
	for _, v := range config.WorkerVariables() {
		w[v.Name] = true
	}
	if !w["WORKER_CONCURRENCY"] || !w["WECHAT_APPID"] || w["API_KEYS"] {
		t.Fatalf("worker variables %v", w)
	}
}
