package delivery

import (
	"context"
	"fmt"
	"testing"

	"wxnotify/internal/redistest"
	"wxnotify/internal/subscriber"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const tmpl = "Zx8qLtOrderArrived0000000000000000000000000"

func runClaim(t testing.TB, h *Handler, user, openid, task string, longTerm bool) []any {
	t.Helper()
	k := subscriber.NewKeys("wxapp")
	res, err := claim.Run(context.Background(), h.rdb,
		[]string{k.Binding(user), k.Grants(user), k.Ambiguous(user, task), k.Claim(user, task), k.Unsubscribed(user)},
		openid, tmpl, flag(longTerm), 3600).Slice()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The claim step's every answer, against real Redis.
func TestClaimStep(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	h := &Handler{rdb: rdb}
	ctx := context.Background()
	k := subscriber.NewKeys("wxapp")

	if got := runClaim(t, h, "u1", "", "t1", false); got[0] != "not_bound" {
		t.Fatalf("unbound user without openid: %v", got)
	}
	rdb.HSet(ctx, k.Binding("u1"), "openid", "o-1")
	if got := runClaim(t, h, "u1", "", "t1", false); got[0] != "no_grant" || got[1] != "o-1" || got[2] != int64(0) {
		t.Fatalf("bound, no grant: %v", got)
	}
	rdb.HSet(ctx, k.Grants("u1"), tmpl, 1)
	if got := runClaim(t, h, "u1", "", "t1", false); got[0] != "claimed" || got[1] != "o-1" {
		t.Fatalf("one grant: %v", got)
	}
	if n := rdb.HGet(ctx, k.Grants("u1"), tmpl).Val(); n != "0" {
		t.Fatalf("grant after claim: %s; want 0", n)
	}
	// A run of the same task after a crash finds its own claim: no second
	// grant is taken, and the run is flagged ambiguous (the first may have sent).
	if got := runClaim(t, h, "u1", "", "t1", false); got[0] != "claimed" || got[2] != int64(1) {
		t.Fatalf("re-run after a crash: %v; want claimed, ambiguous", got)
	}
	if n := rdb.HGet(ctx, k.Grants("u1"), tmpl).Val(); n != "0" {
		t.Fatalf("grant after the re-run: %s; want still 0", n)
	}
	// A template turned off in settings answers unsubscribed, not no_grant.
	rdb.HSet(ctx, k.Unsubscribed("u1"), tmpl, 1700000000)
	if got := runClaim(t, h, "u1", "", "t9", false); got[0] != "unsubscribed" {
		t.Fatalf("unsubscribed template: %v", got)
	}
	rdb.HDel(ctx, k.Unsubscribed("u1"), tmpl)
	// Long-term consent is checked, never spent.
	rdb.HSet(ctx, k.Grants("u1"), tmpl, 1)
	runClaim(t, h, "u1", "", "t2", true)
	if n := rdb.HGet(ctx, k.Grants("u1"), tmpl).Val(); n != "1" {
		t.Fatalf("long-term grant after claim: %s; want 1", n)
	}
	// The payload's openid wins over the binding's.
	if got := runClaim(t, h, "u1", "o-named", "t3", true); got[1] != "o-named" {
		t.Fatalf("payload openid: %v", got)
	}
	// An ambiguous marker is reported.
	rdb.Set(ctx, k.Ambiguous("u1", "t5"), "1", 0)
	if got := runClaim(t, h, "u1", "", "t5", false); got[2] != int64(1) {
		t.Fatalf("ambiguous marker: %v", got)
	}
}

// BenchmarkClaim is the worker's one Redis round trip before a send.
func BenchmarkClaim(b *testing.B) {
	rdb := redistest.New(b)
	h := &Handler{rdb: rdb}
	k := subscriber.NewKeys("wxapp")
	rdb.HSet(context.Background(), k.Binding("u1"), "openid", "o-1")
	rdb.HSet(context.Background(), k.Grants("u1"), tmpl, 1<<40)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if got := runClaim(b, h, "u1", "", fmt.Sprint("task-", i), false); got[0] != "claimed" {
			b.Fatal(got)
		}
	}
}
