package record

import (
	"strconv"
	"strings"

	"wxnotify/internal/redisconn"
)

// The scripts that change a record, each on the record's one key, so each
// runs on one Cluster slot. They read a record's fields by name through
// the table F (luaFields).

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

// luaRecord is the Lua shared by the update scripts: the field names, split
// and join a record (one of an older version comes back in this one's
// form), a time as the record stores it, and append to its history,
// bounded to historyLen entries.
var luaRecord = luaFields() + strings.NewReplacer("HISTORY_LEN", strconv.Itoa(historyLen),
	"N_FIELDS", strconv.Itoa(nFields), "VERSION", recordVersion).Replace(`
local function split(s)
	local t, i = {}, 1
	while true do
		local j = string.find(s, "\31", i, true)
		if not j then
			t[#t + 1] = string.sub(s, i)
			break
		end
		t[#t + 1] = string.sub(s, i, j - 1)
		i = j + 1
	end
	for k = #t + 1, N_FIELDS do
		t[k] = ""
	end
	t[F.version] = "VERSION"
	return t
end
local function field(s, n) -- the n-th field alone, without splitting s
	local i = 1
	for _ = 2, n do
		i = string.find(s, "\31", i, true) + 1
	end
	local j = string.find(s, "\31", i, true)
	return string.sub(s, i, (j or 0) - 1)
end
local function join(f)
	return table.concat(f, "\31")
end
-- rel is Unix time unix as the record stores it: seconds after the second
-- it was accepted in (record.go's timeField).
local function rel(f, unix)
	return tostring(tonumber(unix) - math.floor((tonumber(f[F.created]) or 0) / 1000))
end
local function remember(f, now, outcome, errcode)
	local h = {}
	if f[F.history] ~= "" then
		for e in string.gmatch(f[F.history], "[^;]+") do h[#h + 1] = e end
	end
	h[#h + 1] = rel(f, now) .. "," .. outcome .. "," .. errcode
	while #h > HISTORY_LEN do table.remove(h, 1) end
	f[F.history] = table.concat(h, ";")
end
`)

// beginAttempt marks the record active, unless the notification completed
// already (a redelivery after a crash or a lost completion write): then it
// returns how, and nothing must be sent. A missing record (it expired, or
// Redis lost it) is written from the task: the api writes every record
// before it queues the task, so a task never runs ahead of its record.
// It runs at every attempt: it reads the state alone, and rewrites the
// record only when the state changes.
// KEYS: record. ARGV: record to start from if it is missing, its TTL.
// Returns {"go"} or {"done", result, reason, msgid}.
var beginAttempt = redisconn.NewScript(luaRecord + `
local cur = redis.call("GET", KEYS[1])
if not cur then
	redis.call("SET", KEYS[1], ARGV[1], "EX", ARGV[2])
	cur = ARGV[1]
end
local state = field(cur, F.state)
if state == "completed" then
	return {"done", field(cur, F.result), field(cur, F.reason), field(cur, F.msgid)}
end
if state ~= "active" then
	local f = split(cur)
	f[F.state] = "active"
	redis.call("SET", KEYS[1], join(f), "KEEPTTL")
end
return {"go"}`)

// retryAttempt records an attempt that will be tried again, unless the
// notification completed meanwhile.
// KEYS: record. ARGV: now (Unix s), error, next try (Unix s), outcome,
// errcode, "1" if it counts as an attempt (a deferral does not).
// Returns 1, or 0 if there is no record or it completed.
var retryAttempt = redisconn.NewScript(luaRecord + `
local cur = redis.call("GET", KEYS[1])
if not cur then
	return 0
end
local f = split(cur)
if f[F.state] == "completed" then
	return 0 -- another run of the task finished it meanwhile
end
f[F.state] = "retry"
if ARGV[6] == "1" then
	f[F.attempts] = tostring((tonumber(f[F.attempts]) or 0) + 1)
	f[F.last_failed_at] = rel(f, ARGV[1])
end
f[F.last_error] = ARGV[2]
f[F.next_at] = rel(f, ARGV[3])
remember(f, ARGV[1], ARGV[4], ARGV[5])
redis.call("SET", KEYS[1], join(f), "KEEPTTL")
return 1`)

// finishAttempt records how the notification ended and keeps the record for
// the retention from now. A completion clears the last error: it no
// longer stands.
// KEYS: record. ARGV: now, state (completed|archived), result, reason,
// msgid, error, outcome, errcode, TTL seconds, record to start from if it is
// missing, the channel that delivered ("" for a subscribe message).
var finishAttempt = redisconn.NewScript(luaRecord + `
local f = split(redis.call("GET", KEYS[1]) or ARGV[10])
f[F.state] = ARGV[2]
f[F.attempts] = tostring((tonumber(f[F.attempts]) or 0) + 1)
f[F.result] = ARGV[3]
f[F.reason] = ARGV[4]
f[F.msgid] = ARGV[5]
if ARGV[6] ~= "" then
	f[F.last_error] = ARGV[6]
	f[F.last_failed_at] = rel(f, ARGV[1])
end
f[F.next_at] = ""
f[F.completed_at] = rel(f, ARGV[1])
f[F.channel] = ARGV[11]
remember(f, ARGV[1], ARGV[7], ARGV[8])
redis.call("SET", KEYS[1], join(f), "EX", ARGV[9])
return 1`)

// setWeChat records WeChat's final status from its sent event: its time
// as the record stores times, and no status for errcode 0 "success", the
// status of every delivered message (record.go).
// KEYS: record. ARGV: "errcode,status,unix". Returns 0 if there is no record.
var setWeChat = redisconn.NewScript(luaRecord + `
local cur = redis.call("GET", KEYS[1])
if not cur then
	return 0
end
local f = split(cur)
local code, status, unix = string.match(ARGV[1], "^(-?%d+),([^,]*),(%d+)$")
if code then
	if code == "0" and status == "` + weChatSuccess + `" then
		status = ""
	end
	f[F.wechat] = code .. "," .. status .. "," .. rel(f, unix)
else
	f[F.wechat] = ARGV[1]
end
redis.call("SET", KEYS[1], join(f), "KEEPTTL")
return 1`)

// setOrderState records the WeChat Pay order's state as WeChat reported
// it, and the report in the history — once, and only forward: a state
// already recorded or passed (WeChat repeats its pushes, and they may come
// out of order; get_order repeats what a push said) changes nothing. The
// states run 1 → 2 → 3 → 6 → 4; 5 (refunded) ends any of them.
// KEYS: record. ARGV: now (Unix s), state, its name. Returns 0 if there is
// no record or nothing changed.
var setOrderState = redisconn.NewScript(luaRecord + `
local cur = redis.call("GET", KEYS[1])
if not cur then
	return 0
end
local f = split(cur)
local rank = {["1"] = 1, ["2"] = 2, ["3"] = 3, ["6"] = 4, ["4"] = 5, ["5"] = 6}
if (rank[ARGV[2]] or 0) <= (rank[f[F.order_state]] or 0) then
	return 0
end
f[F.order_state] = ARGV[2]
remember(f, ARGV[1], "order_" .. ARGV[3], 0)
redis.call("SET", KEYS[1], join(f), "KEEPTTL")
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

// indexOrder files a notification under its WeChat Pay order, for WeChat's
// trade events, which name the order only. KEYS: the order's hash. ARGV:
// the notification id, TTL seconds.
var indexOrder = redisconn.NewScript(`
redis.call("HSET", KEYS[1], ARGV[1], "")
redis.call("EXPIRE", KEYS[1], ARGV[2])
return 1`)
