package redisconn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"wxnotify/internal/redisconn"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want string // Target.String(), or the error's text
		err  bool
	}{
		{url: "redis://127.0.0.1:6379/2", want: "tcp 127.0.0.1:6379 db 2"},
		{url: "redis://:pw@cache:6380", want: "tcp cache:6380 db 0"},
		{url: "rediss://user:pw@cache.example.com:6380/1", want: "tcp cache.example.com:6380 db 1"},
		{url: "unix:///run/redis.sock?db=3", want: "unix /run/redis.sock db 3"},
		{url: "", want: "empty URL", err: true},
		{url: "http://cache:6379", want: `scheme "http"`, err: true},
		{url: "cache:6379", want: `scheme "cache:6379"`, err: true},
		{url: "redis://:hunter2@cache:6379/notadb", want: "not a Redis URL", err: true},
	} {
		tg, err := redisconn.Parse(tc.url, time.Second)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = tg.String()
		}
		if (err != nil) != tc.err || !strings.Contains(got, tc.want) {
			t.Errorf("Parse(%q) = %q (err %v); want %q", tc.url, got, err != nil, tc.want)
		}
		if strings.Contains(got, "hunter2") || strings.Contains(got, ":pw@") {
			t.Errorf("Parse(%q) shows the password: %q", tc.url, got)
		}
	}
}

func TestAsynqOptMatchesTheClient(t *testing.T) {
	t.Parallel()
	tg, err := redisconn.Parse("rediss://u:p@cache:6380/4", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := tg.AsynqOpt().(asynq.RedisClientOpt)
	if !ok || o.Addr != "cache:6380" || o.DB != 4 || o.Username != "u" || o.Password != "p" || o.TLSConfig == nil || o.DialTimeout != 3*time.Second {
		t.Fatalf("AsynqOpt = %+v", o)
	}
}
