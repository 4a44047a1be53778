package delivery

import "wxnotify/internal/redisconn"

// claim decides, in one round trip, whether a notification may be sent:
// no openid named and none bound → "not_bound"; no grant left →
// "no_grant"; otherwise it takes one one-time grant (long-term consent is
// only checked) and records the claim for this run → "claimed".
//
// A claim names its run and how long that run may still act: until the
// run's deadline it may be sending, or writing down that it sent. Another
// run of the same task that finds it — asynq ran the task twice, after a
// failover lost its record of the first run — gets "busy" and the
// milliseconds left, and must not send. A claim whose run is past its
// deadline was left by a run that died (or could not reach Redis in time)
// after claiming: the grant is the task's already, so the new run takes
// the claim over, flagged ambiguous since the old run may have reached
// WeChat. Whether the notification went out already is its record's to say
// (notification.Records.Begin).
//
// The third value reports ambiguity: the ambiguous marker of an earlier
// timed-out attempt, or a claim taken over; the fourth, 1 for a claim
// taken over. A user who turned the template off in settings gets
// "unsubscribed".
//
// KEYS: binding, grants, ambiguous marker, claim marker, unsubscribed
// templates (one hash slot).
// ARGV: openid from the payload ("" to use the binding), template id, "1"
// for long-term, marker TTL in seconds, this run's name, milliseconds this
// run may still act. Times are Redis's own clock, so that workers' clocks
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
local held = redis.call("GET", KEYS[4])
if held then
	local owner, deadline = string.match(held, "^(%S+) (%d+)$")
	if owner and owner ~= ARGV[5] and tonumber(deadline) > now then
		return {"busy", openid, tonumber(deadline) - now, 0}
	end
	redis.call("SET", KEYS[4], mine, "EX", ARGV[4])
	return {"claimed", openid, 1, 1}
end
local ambiguous = redis.call("EXISTS", KEYS[3])
local n = tonumber(redis.call("HGET", KEYS[2], ARGV[2]) or "0") or 0
if n <= 0 then
	if redis.call("HEXISTS", KEYS[5], ARGV[2]) == 1 then
		return {"unsubscribed", openid, ambiguous, 0}
	end
	return {"no_grant", openid, ambiguous, 0}
end
if ARGV[3] ~= "1" then
	redis.call("HINCRBY", KEYS[2], ARGV[2], -1)
end
redis.call("SET", KEYS[4], mine, "EX", ARGV[4])
return {"claimed", openid, ambiguous, 0}`)

// release gives a claimed one-time grant back after a send that failed
// without spending it (dropping the task's claim), and marks the
// notification ambiguous when WeChat may have acted anyway.
//
// A run whose claim was taken over (it outlived its deadline) gives back
// nothing: the grant is the new run's. Returns 0 then, else 1.
//
// KEYS: grants, ambiguous marker, claim marker. ARGV: template id, "1" for
// long-term, "1" if ambiguous, marker TTL in seconds, this run's name.
var release = redisconn.NewScript(`
local held = redis.call("GET", KEYS[3]) or ""
if string.sub(held, 1, #ARGV[5] + 1) ~= ARGV[5] .. " " then
	return 0
end
redis.call("DEL", KEYS[3])
if ARGV[2] ~= "1" then
	redis.call("HINCRBY", KEYS[1], ARGV[1], 1)
end
if ARGV[3] == "1" then
	redis.call("SET", KEYS[2], "1", "EX", ARGV[4])
end
return 1`)

// dropMarkers deletes a finished notification's claim and ambiguity
// markers. A script, so that it shares a round trip with others
// (redisconn.RunScripts). KEYS: claim marker, ambiguous marker.
var dropMarkers = redisconn.NewScript(`return redis.call("DEL", KEYS[1], KEYS[2])`)
