-- SPDX-License-Identifier: MIT
-- @prelude online class
-- st_mark: records a student's attendance mark, opening the session when there is none;
-- refused once the session is finalized.
-- KEYS: 1-3 the class's (prelude/class.lua)
-- ARGV: class, student, name, mark, by, now, today, new session id
-- Returns {code (0, -1 finalized, -2 class full), session, 1 when this call opened it}
local sid, name, now = ARGV[2], ARGV[3], tonumber(ARGV[6])
local s = current(ARGV[7], now, true, true)
if s.state == '2' then return {-1, pack(s), 0} end
local raw = redis.call('HGET', U, sid)
local o
if raw then
  o = cjson.decode(raw)
  if name ~= '' then o.n = name end
else
  if redis.call('HLEN', U) >= MAX_STUDENTS then return {-2, pack(s), 0} end
  o = newstu(name, now)
end
local created = 0
if s.state == '0' then
  redis.call('HSET', S, 'state', '1', 'session_id', ARGV[8], 'teacher_id', ARGV[5],
             'started_at', ARGV[6], 'ended_at', '0')
  created = 1
end
o.m = tonumber(ARGV[4])
o.mb = ARGV[5]
o.ma = now
redis.call('HSET', U, sid, cjson.encode(o))
touch()
return {0, pack(get_sess()), created}
