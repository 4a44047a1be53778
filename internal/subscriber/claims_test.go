package subscriber

import (
	"context"
	"fmt"
	"testing"
	"time"

	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
)

const tmpl = "Zx8qLtOrderArrived0000000000000000000000000"

func runClaim(t testing.TB, c *Claims, user, openid, notification string, longTerm bool) []any {
	t.Helper()
	return runClaimAs(t, c, user, openid, notification, longTerm, "run-"+notification, time.Minute)
}

// runClaimAs claims as run, which may act for left more.
func runClaimAs(t testing.TB, c *Claims, user, openid, notification string, longTerm bool, run string, left time.Duration) []any {
	t.Helper()
	cl := c.ClaimCall(ClaimRequest{User: user, Notification: notification, OpenID: openid, TemplateID: tmpl, LongTerm: longTerm, Run: run, Until: time.Now().Add(left)})
	if err := redisconn.RunScripts(context.Background(), c.rdb, cl.Call); err != nil {
		t.Fatal(err)
	}
	res, err := cl.Call.Cmd.Slice()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The claim step's every answer, against real Redis.
func TestClaimStep(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	h := NewClaims(rdb, "wxapp")
	ctx := context.Background()
	k := NewKeys("wxapp")

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
	// Another run of the same task while the first may still act (asynq
	// ran it twice): busy, with the time the first has left; nothing taken.
	rdb.HSet(ctx, k.Grants("u1"), tmpl, 1)
	got := runClaimAs(t, h, "u1", "", "t1", false, "second", time.Minute)
	if left, _ := got[2].(int64); got[0] != "busy" || left <= 0 || left > time.Minute.Milliseconds() {
		t.Fatalf("second run while the first holds the claim: %v; want busy with up to a minute left", got)
	}
	if n := rdb.HGet(ctx, k.Grants("u1"), tmpl).Val(); n != "1" {
		t.Fatalf("grant after a busy answer: %s; want 1 (untouched)", n)
	}
	// A run after one that died past its deadline takes the claim over: no
	// second grant is taken, and the run is flagged ambiguous (the first may
	// have sent).
	rdb.HSet(ctx, k.Grants("u1"), tmpl, 0)
	rdb.Del(ctx, k.Sending("u1"))                                // run-t1 ended: it no longer sends to u1
	runClaimAs(t, h, "u1", "", "t4", false, "dead", time.Minute) // no grant: not claimed
	rdb.HSet(ctx, k.Grants("u1"), tmpl, 1)
	runClaimAs(t, h, "u1", "", "t4", false, "dead", 0)
	if got := runClaimAs(t, h, "u1", "", "t4", false, "heir", time.Minute); got[0] != "claimed" || got[2] != int64(1) {
		t.Fatalf("re-run after a crash: %v; want claimed, ambiguous", got)
	}
	if n := rdb.HGet(ctx, k.Grants("u1"), tmpl).Val(); n != "0" {
		t.Fatalf("grant after the re-run: %s; want still 0", n)
	}
	// The dead run, were it alive after all, gives nothing back: the claim
	// and the grant are the heir's.
	release := func(run string) bool {
		mine, err := h.Release(ctx, ReleaseRequest{User: "u1", Notification: "t4", TemplateID: tmpl, GiveBack: true, Run: run})
		if err != nil {
			t.Fatal(err)
		}
		return mine
	}
	if n := release("dead"); n || rdb.HGet(ctx, k.Grants("u1"), tmpl).Val() != "0" || rdb.Exists(ctx, k.Claim("u1", "t4")).Val() != 1 {
		t.Fatalf("release by the run whose claim was taken over: mine %v, grant %s; want not mine, grant 0, claim kept", n, rdb.HGet(ctx, k.Grants("u1"), tmpl).Val())
	}
	if n := release("heir"); !n || rdb.HGet(ctx, k.Grants("u1"), tmpl).Val() != "1" || rdb.Exists(ctx, k.Claim("u1", "t4")).Val() != 0 {
		t.Fatalf("release by the holder: mine %v; want mine, the grant back, the claim gone", n)
	}
	rdb.HSet(ctx, k.Grants("u1"), tmpl, 0)
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
	rdb.Del(ctx, k.Sending("u1")) // each earlier run has ended
	if got := runClaim(t, h, "u1", "o-named", "t3", true); got[1] != "o-named" {
		t.Fatalf("payload openid: %v", got)
	}
	// An ambiguous marker is reported.
	rdb.Set(ctx, k.Ambiguous("u1", "t5"), "1", 0)
	rdb.Del(ctx, k.Sending("u1"))
	if got := runClaim(t, h, "u1", "", "t5", false); got[2] != int64(1) {
		t.Fatalf("ambiguous marker: %v", got)
	}
}

// BenchmarkClaim is the worker's one Redis round trip before a send.
func BenchmarkClaim(b *testing.B) {
	rdb := redistest.New(b)
	h := NewClaims(rdb, "wxapp")
	k := NewKeys("wxapp")
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

// One send at a time per user (WeChat answers concurrent sends to one
// openid with 43108): while one notification's run may send to a user,
// another notification's claim answers user_busy and takes nothing; once
// the first run releases or ends, the second claims.
func TestOneSendAtATimePerUser(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	c := NewClaims(rdb, "wxapp")
	ctx := context.Background()
	k := NewKeys("wxapp")
	rdb.HSet(ctx, k.Binding("u1"), "openid", "o-1")
	rdb.HSet(ctx, k.Grants("u1"), tmpl, 3)
	grants := func() string { return rdb.HGet(ctx, k.Grants("u1"), tmpl).Val() }

	if got := runClaim(t, c, "u1", "", "n1", false); got[0] != "claimed" {
		t.Fatalf("first notification: %v", got)
	}
	got := runClaim(t, c, "u1", "", "n2", false)
	if left, _ := got[2].(int64); got[0] != "user_busy" || left <= 0 || left > time.Minute.Milliseconds() || grants() != "2" {
		t.Fatalf("second notification while the first sends: %v, grants %s; want user_busy with the holder's time left, grants 2", got, grants())
	}
	// Another user is not held up.
	rdb.HSet(ctx, k.Binding("u2"), "openid", "o-2")
	rdb.HSet(ctx, k.Grants("u2"), tmpl, 1)
	if got := runClaim(t, c, "u2", "", "n3", false); got[0] != "claimed" {
		t.Fatalf("another user: %v", got)
	}
	// The first run gives its grant back: the second may send.
	if _, err := c.Release(ctx, ReleaseRequest{User: "u1", Notification: "n1", TemplateID: tmpl, GiveBack: true, Run: "run-n1"}); err != nil {
		t.Fatal(err)
	}
	if got := runClaim(t, c, "u1", "", "n2", false); got[0] != "claimed" {
		t.Fatalf("after the first released: %v", got)
	}
	// The second completes: its end frees the user for a third.
	if err := redisconn.RunScripts(ctx, rdb, c.EndCall("u1", "n2", tmpl, "run-n2", false)); err != nil {
		t.Fatal(err)
	}
	if got := runClaim(t, c, "u1", "", "n4", false); got[0] != "claimed" {
		t.Fatalf("after the second ended: %v", got)
	}
	// An end by a run that no longer holds the slot leaves the holder's.
	if err := redisconn.RunScripts(ctx, rdb, c.EndCall("u1", "n2", tmpl, "run-n2", false)); err != nil {
		t.Fatal(err)
	}
	if got := runClaim(t, c, "u1", "", "n5", false); got[0] != "user_busy" {
		t.Fatalf("a stale end freed the holder's slot: %v", got)
	}
}

// The order channel needs no grant: its claim checks and takes none, and
// holds no sending slot, but still keeps two runs of one notification apart.
func TestGrantFreeClaim(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	c := NewClaims(rdb, "wxapp")
	ctx := context.Background()
	k := NewKeys("wxapp")
	rdb.HSet(ctx, k.Binding("u1"), "openid", "o-1")
	claim := func(notification, run string) []any {
		t.Helper()
		cl := c.ClaimCall(ClaimRequest{User: "u1", Notification: notification, TemplateID: tmpl, GrantFree: true, Run: run, Until: time.Now().Add(time.Minute)})
		if err := redisconn.RunScripts(ctx, rdb, cl.Call); err != nil {
			t.Fatal(err)
		}
		v, err := cl.Call.Cmd.Slice()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := claim("o1", "run-1"); got[0] != "claimed" || got[1] != "o-1" {
		t.Fatalf("without any grant: %v; want claimed", got)
	}
	if rdb.Exists(ctx, k.Grants("u1"), k.Sending("u1")).Val() != 0 {
		t.Fatal("a grant-free claim touched the grants or took the sending slot")
	}
	if got := claim("o1", "run-2"); got[0] != "busy" {
		t.Fatalf("a second run of the same notification: %v; want busy", got)
	}
	if got := claim("o2", "run-3"); got[0] != "claimed" {
		t.Fatalf("another notification to the same user: %v; want claimed (no sending slot)", got)
	}
}
