package subscriber

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/redisconn"
)

// Claims are the worker's hold on a user's grants: a delivery attempt
// claims one grant before it sends, gives it back if WeChat did not spend
// it, and ends the claim when the notification is finished. A claim is a
// marker in the user's slot, next to the grants, so that each step is one
// Lua script on one Redis Cluster slot.
type Claims struct {
	rdb  redis.UniversalClient
	keys Keys
}

// NewClaims returns the claims of the users of appid.
func NewClaims(rdb redis.UniversalClient, appID string) *Claims {
	return &Claims{rdb: rdb, keys: NewKeys(appID)}
}

// markerTTL bounds the life of a notification's claim and ambiguity
// markers, which are deleted when it finishes: past any retry schedule.
const markerTTL = 72 * time.Hour

// ClaimState is what a claim found.
type ClaimState string

// The claim states.
const (
	// Claimed: the run holds one of the user's grants (or, for a
	// long-term template, the user's consent) and may send.
	Claimed ClaimState = "claimed"
	// Busy: another run of the same notification holds the claim and may
	// be sending now.
	Busy ClaimState = "busy"
	// NotBound: no openid was named and the user is bound to none.
	NotBound ClaimState = "not_bound"
	// NoGrant: the user has no grant left for the template.
	NoGrant ClaimState = "no_grant"
	// Unsubscribed: the user turned the template off in WeChat's settings.
	Unsubscribed ClaimState = "unsubscribed"
	// UserBusy: another notification's run is sending to the user now,
	// and WeChat refuses concurrent sends to one openid (43108).
	UserBusy ClaimState = "user_busy"
)

// ClaimRequest is one run's claim of a grant for a notification.
type ClaimRequest struct {
	User, Notification string
	// OpenID is the payload's openid; "" to use the user's binding.
	OpenID     string
	TemplateID string
	// LongTerm: consent is only checked, no grant is spent.
	LongTerm bool
	// GrantFree: no grant is needed at all (WeChat's order channel, which
	// messages the buyer of a WeChat Pay order without one), and the send
	// takes no sending slot (43108 is the subscribe send's).
	GrantFree bool
	// Run names the run; Until is its deadline, until which it may be
	// sending or writing down that it sent.
	Run   string
	Until time.Time
}

// Claim is a claim as a script call that shares a round trip with the
// caller's own (redisconn.RunScripts); Result reads its answer.
type Claim struct{ Call *redisconn.ScriptCall }

// ClaimCall is the claim of r.
func (c *Claims) ClaimCall(r ClaimRequest) Claim {
	return Claim{&redisconn.ScriptCall{Script: claim,
		Keys: []string{c.keys.Binding(r.User), c.keys.Grants(r.User), c.keys.Ambiguous(r.User, r.Notification),
			c.keys.Claim(r.User, r.Notification), c.keys.Unsubscribed(r.User), c.keys.Sending(r.User)},
		Args: []any{r.OpenID, r.TemplateID, redisconn.Flag(r.LongTerm), redisconn.Seconds(markerTTL), r.Run, time.Until(r.Until).Milliseconds(), redisconn.Flag(r.GrantFree)}}}
}

// ClaimAnswer is what a claim found.
type ClaimAnswer struct {
	State  ClaimState
	OpenID string
	// Ambiguous: an earlier attempt may have delivered (it timed out), or
	// the claim was a dead run's.
	Ambiguous bool
	// TookOver: the claim was a dead run's, past its deadline; the grant
	// is the one that run claimed.
	TookOver bool
	// HeldFor is, for Busy and UserBusy, how long the holding run may
	// still act.
	HeldFor time.Duration
}

// Result is the claim's answer.
func (c Claim) Result() (ClaimAnswer, error) {
	v, err := c.Call.Cmd.Slice()
	if err != nil {
		return ClaimAnswer{}, err
	}
	if len(v) != 4 {
		return ClaimAnswer{}, fmt.Errorf("claim: %d values in the answer, want 4", len(v))
	}
	var a ClaimAnswer
	state, _ := v[0].(string)
	a.State = ClaimState(state)
	a.OpenID, _ = v[1].(string)
	third, _ := v[2].(int64)
	took, _ := v[3].(int64)
	if a.State == Busy || a.State == UserBusy {
		a.HeldFor = time.Duration(third) * time.Millisecond
	} else {
		a.Ambiguous = third == 1
	}
	a.TookOver = took == 1
	return a, nil
}

// ReleaseRequest ends a run's claim without finishing the notification.
type ReleaseRequest struct {
	User, Notification, TemplateID string
	// GiveBack returns the claimed grant: WeChat did not spend it.
	GiveBack bool
	// Ambiguous marks the notification: WeChat may have acted.
	Ambiguous bool
	Run       string
}

// Release ends run r.Run's claim. mine is false when a later run took the
// claim over (this run outlived its deadline): the grant is that run's,
// and nothing changes.
func (c *Claims) Release(ctx context.Context, r ReleaseRequest) (mine bool, err error) {
	n, err := release.Run(ctx, c.rdb, []string{c.keys.Grants(r.User), c.keys.Ambiguous(r.User, r.Notification), c.keys.Claim(r.User, r.Notification), c.keys.Sending(r.User)},
		r.TemplateID, redisconn.Flag(r.GiveBack), redisconn.Flag(r.Ambiguous), redisconn.Seconds(markerTTL), r.Run).Int()
	if err != nil {
		return false, fmt.Errorf("release claim: %w", err)
	}
	return n == 1, nil
}

// EndCall ends a finished notification's claim and ambiguity markers, and
// run's hold on sending to the user; it sets the user's grants of
// templateID to zero when WeChat said there are none left (43101). A
// script, so that it shares a round trip with others.
func (c *Claims) EndCall(user, notification, templateID, run string, zeroGrant bool) *redisconn.ScriptCall {
	return &redisconn.ScriptCall{Script: end,
		Keys: []string{c.keys.Claim(user, notification), c.keys.Ambiguous(user, notification), c.keys.Grants(user), c.keys.Sending(user)},
		Args: []any{templateID, redisconn.Flag(zeroGrant), run}}
}

// claim decides, in one round trip, whether a notification may be sent:
// no openid named and none bound → "not_bound"; no grant left →
// "no_grant"; otherwise it takes one one-time grant (long-term consent is
// only checked) and records the claim for this run → "claimed".
//
// A claim names its run and how long that run may still act: until the
// run's deadline it may be sending, or writing down that it sent. Another
// run of the same notification that finds it — asynq ran the task twice,
// after a failover lost its record of the first run — gets "busy" and the
// milliseconds left, and must not send. A claim whose run is past its
// deadline was left by a run that died (or could not reach Redis in time)
// after claiming: the grant is the notification's already, so the new run
// takes the claim over, flagged ambiguous since the old run may have
// reached WeChat. Whether the notification went out already is its
// record's to say (package record, beginAttempt).
//
// The third value reports ambiguity: the ambiguous marker of an earlier
// timed-out attempt, or a claim taken over; for "busy" and "user_busy",
// the milliseconds the holding run has left. The fourth is 1 for a claim
// taken over. A user who turned the template off in settings gets
// "unsubscribed".
//
// A run that may send also takes the user's sending slot until its
// deadline: WeChat refuses concurrent sends to one openid (43108), so while
// another notification's run holds it, the claim answers "user_busy" and
// takes nothing.
//
// KEYS: binding, grants, ambiguous marker, claim marker, unsubscribed
// templates, sending slot (one hash slot).
// ARGV: openid from the payload ("" to use the binding), template id, "1"
// for long-term, marker TTL in seconds, this run's name, milliseconds this
// run may still act, "1" when no grant is needed (no grant is checked or
// taken, and no sending slot). Times are Redis's own clock, so that workers' clocks
// need not agree.
var claim = redisconn.NewScript(`
local openid = ARGV[1]
if openid == "" then
	openid = redis.call("HGET", KEYS[1], "openid")
	if not openid then
		return {"not_bound", "", 0, 0}
	end
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = ARGV[5] .. " " .. tostring(now + tonumber(ARGV[6]))
local function sending()
	if tonumber(ARGV[6]) <= 0 or ARGV[7] == "1" then
		return true
	end
	if redis.call("SET", KEYS[6], ARGV[5], "PX", ARGV[6], "NX") then
		return true
	end
	return redis.call("GET", KEYS[6]) == ARGV[5]
end
local held = redis.call("GET", KEYS[4])
if held then
	local owner, deadline = string.match(held, "^(%S+) (%d+)$")
	if owner and owner ~= ARGV[5] and tonumber(deadline) > now then
		return {"busy", openid, tonumber(deadline) - now, 0}
	end
	if not sending() then
		return {"user_busy", openid, redis.call("PTTL", KEYS[6]), 0}
	end
	redis.call("SET", KEYS[4], mine, "EX", ARGV[4])
	return {"claimed", openid, 1, 1}
end
local ambiguous = redis.call("EXISTS", KEYS[3])
if ARGV[7] == "1" then
	redis.call("SET", KEYS[4], mine, "EX", ARGV[4])
	return {"claimed", openid, ambiguous, 0}
end
local n = tonumber(redis.call("HGET", KEYS[2], ARGV[2]) or "0") or 0
if n <= 0 then
	if redis.call("HEXISTS", KEYS[5], ARGV[2]) == 1 then
		return {"unsubscribed", openid, ambiguous, 0}
	end
	return {"no_grant", openid, ambiguous, 0}
end
if not sending() then
	return {"user_busy", openid, redis.call("PTTL", KEYS[6]), 0}
end
if ARGV[3] ~= "1" then
	redis.call("HINCRBY", KEYS[2], ARGV[2], -1)
end
redis.call("SET", KEYS[4], mine, "EX", ARGV[4])
return {"claimed", openid, ambiguous, 0}`)

// release drops a run's claim, gives the claimed grant back when asked
// (WeChat did not spend it), and marks the notification ambiguous when
// WeChat may have acted anyway.
//
// A run whose claim was taken over (it outlived its deadline) changes
// nothing: the grant is the new run's. Returns 0 then, else 1.
//
// The run's hold on sending to the user ends with it.
//
// KEYS: grants, ambiguous marker, claim marker, sending slot. ARGV:
// template id, "1" to give the grant back, "1" if ambiguous, marker TTL in
// seconds, this run's name.
var release = redisconn.NewScript(`
if redis.call("GET", KEYS[4]) == ARGV[5] then
	redis.call("DEL", KEYS[4])
end
local held = redis.call("GET", KEYS[3]) or ""
if string.sub(held, 1, #ARGV[5] + 1) ~= ARGV[5] .. " " then
	return 0
end
redis.call("DEL", KEYS[3])
if ARGV[2] == "1" then
	redis.call("HINCRBY", KEYS[1], ARGV[1], 1)
end
if ARGV[3] == "1" then
	redis.call("SET", KEYS[2], "1", "EX", ARGV[4])
end
return 1`)

// end deletes a finished notification's claim and ambiguity markers, ends
// the run's hold on sending to the user and, when asked, zeroes the user's
// grants of the template.
// KEYS: claim marker, ambiguous marker, grants, sending slot. ARGV:
// template id, "1" to zero its grants, the run's name.
var end = redisconn.NewScript(`
redis.call("DEL", KEYS[1], KEYS[2])
if redis.call("GET", KEYS[4]) == ARGV[3] then
	redis.call("DEL", KEYS[4])
end
if ARGV[2] == "1" then
	redis.call("HSET", KEYS[3], ARGV[1], 0)
end
return 1`)
