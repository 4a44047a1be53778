package notification

import (
	"strconv"
	"strings"

	"wxnotify/internal/redisconn"
)

// The scripts that change a record, each on the record's one key, so each
// runs on one Cluster slot. Field positions are record.go's plus one.

// createRecord stores a new record unless one exists (the dedupe decision).
// KEYS: record. ARGV: record, TTL seconds. Returns {1, record} when created,
// {0, existing record} for a duplicate.
var createRecord = redisconn.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur then
	return {0, cur}
end
redis.call("SET", KEYS[1], ARGV[1], "EX", ARGV[2])
return {1, ARGV[1]}`)

// luaRecord is the Lua shared by the update scripts: split and join a
// record, append to its history, bounded to historyLen entries.
var luaRecord = strings.ReplaceAll(`
local function split(s)
	local t, i = {}, 1
	while true do
		local j = string.find(s, "\31", i, true)
		if not j then
			t[#t + 1] = string.sub(s, i)
			return t
		end
		t[#t + 1] = string.sub(s, i, j - 1)
		i = j + 1
	end
end
local function remember(f, now, outcome, errcode)
	local h = {}
	if f[18] ~= "" then
		for e in string.gmatch(f[18], "[^;]+") do h[#h + 1] = e end
	end
	h[#h + 1] = now .. "," .. outcome .. "," .. errcode
	while #h > HISTORY_LEN do table.remove(h, 1) end
	f[18] = table.concat(h, ";")
end
`, "HISTORY_LEN", strconv.Itoa(historyLen))

// beginAttempt marks the record active, unless the notification already
// completed (a redelivery after a crash or a lost completion write): then
// it returns what it completed with, and nothing must be sent. So does an
// archived notification to a task other than its own — one a repeat of
// the call queued (Queue.Enqueue), told apart by its acceptance time —
// while its own task, run again from the dashboard, runs. It reads only
// the state, the record's second field, and rewrites the record only if
// that changes: it runs at every attempt.
//
// A missing record is written from the task (it expired or was lost),
// except for a task accepted moments ago: its record is the api's, on its
// way (Queue.Enqueue) — the attempt waits for it, so that the api does not
// find a record of its own notification and answer it as a duplicate.
// KEYS: record. ARGV: record to start from if it is missing, its TTL, "1"
// if the task was accepted moments ago. Returns {"go"}, {"wait"} or
// {"done", result, reason, msgid}.
var beginAttempt = redisconn.NewScript(luaRecord + `
local cur = redis.call("GET", KEYS[1])
if not cur then
	if ARGV[3] == "1" then
		return {"wait"}
	end
	redis.call("SET", KEYS[1], ARGV[1], "EX", ARGV[2])
	cur = ARGV[1]
end
local from = string.find(cur, "\31", 1, true)
local to = from and string.find(cur, "\31", from + 1, true)
if not to then
	error("record of " .. KEYS[1] .. " has no state")
end
local state = string.sub(cur, from + 1, to - 1)
if state == "completed" then
	local f = split(cur)
	return {"done", f[10], f[11], f[12]}
end
if state == "archived" then
	local f = split(cur)
	if f[6] ~= split(ARGV[1])[6] then
		return {"done", f[10], f[11], f[12]} -- a repeat's task, not its own
	end
end
if state ~= "active" then
	redis.call("SET", KEYS[1], string.sub(cur, 1, from) .. "active" .. string.sub(cur, to), "KEEPTTL")
end
return {"go"}`)

// retryAttempt records an attempt that will be tried again, unless the
// notification completed meanwhile.
// KEYS: record. ARGV: now (Unix s), error, next try (Unix s), outcome,
// errcode, "1" if it counts as an attempt (a quota deferral does not).
var retryAttempt = redisconn.NewScript(luaRecord + `
local cur = redis.call("GET", KEYS[1])
if not cur then
	return 0
end
local f = split(cur)
if f[2] == "completed" then
	return 0 -- another run of the task finished it meanwhile
end
f[2] = "retry"
if ARGV[6] == "1" then
	f[9] = tostring((tonumber(f[9]) or 0) + 1)
	f[14] = ARGV[1]
end
f[13] = ARGV[2]
f[15] = ARGV[3]
remember(f, ARGV[1], ARGV[4], ARGV[5])
redis.call("SET", KEYS[1], table.concat(f, "\31"), "KEEPTTL")
return 1`)

// finishAttempt records how the notification ended and keeps the record for
// the retention from now.
// KEYS: record. ARGV: now, state (completed|archived), result, reason,
// msgid, error, outcome, errcode, TTL seconds, record to start from if it is
// missing.
var finishAttempt = redisconn.NewScript(luaRecord + `
local cur = redis.call("GET", KEYS[1]) or ARGV[10]
local f = split(cur)
f[2] = ARGV[2]
f[9] = tostring((tonumber(f[9]) or 0) + 1)
f[10] = ARGV[3]
f[11] = ARGV[4]
f[12] = ARGV[5]
if ARGV[6] ~= "" then
	f[13] = ARGV[6]
	f[14] = ARGV[1]
end
f[15] = ""
f[16] = ARGV[1]
remember(f, ARGV[1], ARGV[7], ARGV[8])
redis.call("SET", KEYS[1], table.concat(f, "\31"), "EX", ARGV[9])
return 1`)

// setWeChat records WeChat's final status from its sent event.
// KEYS: record. ARGV: "errcode,status,unix". Returns 0 if there is no record.
var setWeChat = redisconn.NewScript(luaRecord + `
local cur = redis.call("GET", KEYS[1])
if not cur then
	return 0
end
local f = split(cur)
f[17] = ARGV[1]
redis.call("SET", KEYS[1], table.concat(f, "\31"), "KEEPTTL")
return 1`)

// meet is one side arriving at a msgid's meeting key (Keys.Msg): it
// returns the other side's half and deletes the key if that side came
// first, or leaves its own half for the other (until the TTL).
// KEYS: meeting key. ARGV: my field, my value, the other's field, TTL seconds.
var meet = redisconn.NewScript(`
local other = redis.call("HGET", KEYS[1], ARGV[3])
if other then
	redis.call("DEL", KEYS[1])
	return other
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("EXPIRE", KEYS[1], ARGV[4])
return false`)

// listNotification lists a notification in its user's hash (Keys.UserList)
// unless it is listed already. Once the hash has grown listSlack fields past
// the bound, it prunes the list to the newest entries younger than the
// cutoff: an insert costs O(1), and a prune (reading the whole hash) comes
// once in listSlack inserts. The hash stays within Redis's listpack limit
// (128 fields) either way.
// KEYS: the user's hash. ARGV: field ("n:" + 16 bytes of the id's hash),
// accepted at (Unix µs), most entries kept, cutoff (Unix µs), slack.
var listNotification = redisconn.NewScript(`
if redis.call("HSETNX", KEYS[1], ARGV[1], ARGV[2]) == 0 then
	return 0
end
if redis.call("HLEN", KEYS[1]) <= tonumber(ARGV[3]) + tonumber(ARGV[5]) then
	return 1
end
local all = redis.call("HGETALL", KEYS[1])
local entries, cutoff = {}, tonumber(ARGV[4])
for i = 1, #all, 2 do
	local f = all[i]
	if string.sub(f, 1, 2) == "n:" then
		local at = tonumber(all[i + 1]) or 0
		if at < cutoff then
			redis.call("HDEL", KEYS[1], f)
		else
			entries[#entries + 1] = {f, at}
		end
	end
end
local most = tonumber(ARGV[3])
if #entries > most then
	table.sort(entries, function(a, b) return a[2] < b[2] end)
	for i = 1, #entries - most do
		redis.call("HDEL", KEYS[1], entries[i][1])
	end
end
return 1`)
