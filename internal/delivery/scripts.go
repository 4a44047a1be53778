package delivery

import "github.com/redis/go-redis/v9"

// claim decides, in one round trip, whether a notification may be sent:
// no openid named and none bound → "not_bound"; this task already holds a
// grant (an earlier run died between claim and outcome) → "claimed",
// flagged ambiguous since that run may have reached WeChat; no grant left →
// "no_grant"; otherwise it takes one one-time grant (long-term consent is
// only checked), records the claim for this task → "claimed". The third
// value reports ambiguity: the ambiguous marker of an earlier timed-out
// attempt, or a claim left by a crashed one. Whether the notification went
// out already is its record's to say (notification.Records.Begin).
//
// A user who turned the template off in settings gets "unsubscribed".
//
// KEYS: binding, grants, ambiguous marker, claim marker, unsubscribed
// templates (one hash slot).
// ARGV: openid from the payload ("" to use the binding), template id, "1"
// for long-term, marker TTL in seconds.
var claim = redis.NewScript(`
local openid = ARGV[1]
if openid == "" then
	openid = redis.call("HGET", KEYS[1], "openid")
	if not openid then
		return {"not_bound", "", 0}
	end
end
if redis.call("EXISTS", KEYS[4]) == 1 then
	return {"claimed", openid, 1}
end
local ambiguous = redis.call("EXISTS", KEYS[3])
local n = tonumber(redis.call("HGET", KEYS[2], ARGV[2]) or "0") or 0
if n <= 0 then
	if redis.call("HEXISTS", KEYS[5], ARGV[2]) == 1 then
		return {"unsubscribed", openid, ambiguous}
	end
	return {"no_grant", openid, ambiguous}
end
if ARGV[3] ~= "1" then
	redis.call("HINCRBY", KEYS[2], ARGV[2], -1)
end
redis.call("SET", KEYS[4], "1", "EX", ARGV[4])
return {"claimed", openid, ambiguous}`)

// release gives a claimed one-time grant back after a send that failed
// without spending it (dropping the task's claim), and marks the
// notification ambiguous when WeChat may have acted anyway.
//
// KEYS: grants, ambiguous marker, claim marker. ARGV: template id, "1" for
// long-term, "1" if ambiguous, marker TTL in seconds.
var release = redis.NewScript(`
redis.call("DEL", KEYS[3])
if ARGV[2] ~= "1" then
	redis.call("HINCRBY", KEYS[1], ARGV[1], 1)
end
if ARGV[3] == "1" then
	redis.call("SET", KEYS[2], "1", "EX", ARGV[4])
end
return 1`)
