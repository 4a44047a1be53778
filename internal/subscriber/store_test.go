package subscriber_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/redistest"
	"wxnotify/internal/subscriber"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const appID = "wx0123456789abcdef"

func TestBindLookupAndRebind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := subscriber.New(redistest.New(t), appID, time.Hour)
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

	if _, ok, err := s.Lookup(ctx, "u-1"); ok || err != nil {
		t.Fatalf("Lookup before login: ok=%v err=%v", ok, err)
	}
	if old, err := s.Bind(ctx, subscriber.Binding{UserID: "u-1", OpenID: "o-AAAA", UnionID: "un-1", BoundAt: now}); err != nil || old != "" {
		t.Fatalf("first Bind: old %q, %v", old, err)
	}
	b, ok, err := s.Lookup(ctx, "u-1")
	if err != nil || !ok || b.OpenID != "o-AAAA" || b.UnionID != "un-1" || !b.BoundAt.Equal(now) {
		t.Fatalf("Lookup = %+v, %v, %v", b, ok, err)
	}
	if u, ok, _ := s.UserOf(ctx, "o-AAAA"); !ok || u != "u-1" {
		t.Fatalf("UserOf(o-AAAA) = %q, %v", u, ok)
	}

	// Grants follow the openid: binding the same user to another WeChat
	// account drops them; binding the same openid again keeps them.
	if _, err := s.Apply(ctx, "u-1", []subscriber.Choice{{TemplateID: "T1", Result: subscriber.Accept}}); err != nil {
		t.Fatal(err)
	}
	if old, _ := s.Bind(ctx, subscriber.Binding{UserID: "u-1", OpenID: "o-AAAA", BoundAt: now}); old != "o-AAAA" {
		t.Fatalf("re-Bind same openid returned old %q", old)
	}
	if g, _ := s.Grants(ctx, "u-1"); g["T1"] != 1 {
		t.Fatalf("grants after re-login with the same openid: %v; want T1:1", g)
	}
	if _, err := s.Bind(ctx, subscriber.Binding{UserID: "u-1", OpenID: "o-BBBB", BoundAt: now}); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.Grants(ctx, "u-1"); len(g) != 0 {
		t.Fatalf("grants after binding another openid: %v; want none", g)
	}
}

func TestInvalidUserIDs(t *testing.T) {
	t.Parallel()
	s := subscriber.New(redistest.New(t), appID, time.Hour)
	for _, id := range []string{"", "a b", "a{b", "x}", "tab\t", strings.Repeat("x", 129)} {
		if _, err := s.Bind(context.Background(), subscriber.Binding{UserID: id, OpenID: "o"}); !errors.Is(err, subscriber.ErrInvalidUserID) {
			t.Errorf("Bind(%q): %v; want ErrInvalidUserID", id, err)
		}
	}
	if !subscriber.ValidUserID("user-42@shop.example") || !subscriber.ValidUserID("用户42") {
		t.Error("ordinary ids rejected")
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	s := subscriber.New(rdb, appID, 2*time.Second)
	token, expires, err := s.NewSession(ctx, "u-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 || time.Until(expires) > 2*time.Second || time.Until(expires) < 0 {
		t.Fatalf("token %q (len %d) expires %s", token, len(token), expires)
	}
	if u, ok, err := s.SessionUser(ctx, token); err != nil || !ok || u != "u-1" {
		t.Fatalf("SessionUser = %q, %v, %v", u, ok, err)
	}
	// Only a hash is stored: no key or value contains the token.
	keys, _ := rdb.Keys(ctx, "*").Result()
	for _, k := range keys {
		if strings.Contains(k, token) || strings.Contains(rdb.Get(ctx, k).Val(), token) {
			t.Fatalf("key %q stores the token in clear", k)
		}
	}
	for _, bad := range []string{"", "short", token[:42] + "x"} {
		if _, ok, _ := s.SessionUser(ctx, bad); ok {
			t.Fatalf("SessionUser(%q) found a user", bad)
		}
	}
	ttl := rdb.TTL(ctx, keys[0]).Val()
	if ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("session TTL %s; want the 2s SESSION_TTL", ttl)
	}
}

func TestApplyChoices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := subscriber.New(redistest.New(t), appID, time.Hour)
	steps := []struct {
		choices []subscriber.Choice
		want    map[string]int
	}{
		{[]subscriber.Choice{{TemplateID: "ONE", Result: "accept"}, {TemplateID: "LONG", LongTerm: true, Result: "accept"}}, map[string]int{"ONE": 1, "LONG": 1}},
		{[]subscriber.Choice{{TemplateID: "ONE", Result: "accept"}, {TemplateID: "LONG", LongTerm: true, Result: "accept"}}, map[string]int{"ONE": 2, "LONG": 1}},
		{[]subscriber.Choice{{TemplateID: "ONE", Result: "filter"}}, map[string]int{"ONE": 2, "LONG": 1}},
		{[]subscriber.Choice{{TemplateID: "ONE", Result: "reject"}, {TemplateID: "LONG", LongTerm: true, Result: "ban"}}, map[string]int{"ONE": 0, "LONG": 0}},
	}
	for i, st := range steps {
		got, err := s.Apply(ctx, "u-1", st.choices)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(st.want) || got["ONE"] != st.want["ONE"] || got["LONG"] != st.want["LONG"] {
			t.Fatalf("step %d: grants %v; want %v", i, got, st.want)
		}
	}
}

// A popup or settings push is applied once: its retries within the hour
// find it remembered, and it is remembered no longer than the hour, which
// covers WeChat's retries (within a minute) many times over.
func TestFirstPushRemembersAnHour(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	s := subscriber.New(rdb, appID, time.Hour)
	id := "o-push:1700000001:subscribe_msg_popup_event:0011223344556677"
	for i, want := range []bool{true, false} {
		if first, err := s.FirstPush(ctx, id); err != nil || first != want {
			t.Fatalf("push %d: first %v, %v; want %v", i+1, first, err, want)
		}
	}
	if ttl := rdb.TTL(ctx, subscriber.NewKeys(appID).Push(id)).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("push remembered for %s; want an hour", ttl)
	}
}
