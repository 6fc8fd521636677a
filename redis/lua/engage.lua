-- SPDX-License-Identifier: MIT
-- @prelude online class
-- st_engage: credits one analyzed frame to a student. The credit rule is
-- st__frame_credit's (state/state_int.h), applied here atomically so frames of one
-- student on several connections or instances earn each gap once.
-- KEYS: 1-3 the class's (prelude/class.lua)
-- ARGV: class, student, name, engaged (0/1), cap seconds, violation, frame time, now, today
-- Returns {-1} (no active session), {-2} (class full), or
--         {0, session, the student's record JSON, its connections}
local sid, name, now = ARGV[2], ARGV[3], tonumber(ARGV[8])
local s = current(ARGV[9], now, false, false)
if s.state ~= '1' then return {-1} end
local raw = redis.call('HGET', U, sid)
local o
if raw then o = cjson.decode(raw)
else
  if redis.call('HLEN', U) >= MAX_STUDENTS then return {-2} end
  o = newstu(name, now)
end
local at, lf = tonumber(ARGV[7]), tonumber(o.lf or 0)
if ARGV[4] == '1' and lf > 0 and at > lf then
  local gap = (at - lf) / 1000
  local cap = tonumber(ARGV[5])
  if gap > cap then gap = cap end
  o.e = (o.e or 0) + gap
end
o.f = (o.f or 0) + 1
if at > lf then o.lf = at end
local v = tonumber(ARGV[6])
if v == 1 then o.v1 = (o.v1 or 0) + 1
elseif v == 2 then o.v2 = (o.v2 or 0) + 1
elseif v == 3 then o.v3 = (o.v3 or 0) + 1 end
local enc = cjson.encode(o)
redis.call('HSET', U, sid, enc)
touch()
local on = tonumber(redis.call('HGET', O, sid) or '0')
return {0, pack(s), enc, on}
