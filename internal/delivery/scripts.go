package delivery

import "github.com/redis/go-redis/v9"

// claim decides, in one round trip, whether a notification may be sent:
// already sent (its marker holds the msgid) → "sent"; no openid named and
// none bound → "not_bound"; no grant left → "no_grant"; otherwise it takes
// one one-time grant (long-term consent is only checked) → "claimed".
// It also reports whether an earlier attempt ended ambiguously.
//
// KEYS: binding, grants, sent marker, ambiguous marker (one hash slot).
// ARGV: openid from the payload ("" to use the binding), template id, "1" for long-term.
var claim = redis.NewScript(`
local msgid = redis.call("GET", KEYS[3])
if msgid then
	return {"sent", msgid, 0}
end
local openid = ARGV[1]
if openid == "" then
	openid = redis.call("HGET", KEYS[1], "openid")
	if not openid then
		return {"not_bound", "", 0}
	end
end
local ambiguous = redis.call("EXISTS", KEYS[4])
local n = tonumber(redis.call("HGET", KEYS[2], ARGV[2]) or "0") or 0
if n <= 0 then
	return {"no_grant", openid, ambiguous}
end
if ARGV[3] ~= "1" then
	redis.call("HINCRBY", KEYS[2], ARGV[2], -1)
end
return {"claimed", openid, ambiguous}`)

// release gives a claimed one-time grant back after a send that failed
// without spending it, and marks the notification ambiguous when WeChat may
// have acted anyway.
//
// KEYS: grants, ambiguous marker. ARGV: template id, "1" for long-term,
// "1" if ambiguous, marker TTL in seconds.
var release = redis.NewScript(`
if ARGV[2] ~= "1" then
	redis.call("HINCRBY", KEYS[1], ARGV[1], 1)
end
if ARGV[3] == "1" then
	redis.call("SET", KEYS[2], "1", "EX", ARGV[4])
end
return 1`)
