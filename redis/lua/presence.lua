-- SPDX-License-Identifier: MIT
-- @prelude online class
-- st_presence: one connection of a student opened (delta 1) or closed (delta -1) on
-- instance me.
-- KEYS: 1-3 the class's (prelude/class.lua), 4 rc:{C}:pres:<me>, 5 rc:{C}:insts,
--       6 rc:inst:<me>:classes, 7 rc:instances
-- ARGV: class, student, name, delta, now, today, me
-- Returns {code (0, -2 class full), 1 when the student went online or offline,
--          the class's online students}
local me, P = ARGV[7], KEYS[4]
local sid, name, delta, now = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
if delta < 0 and redis.call('EXISTS', S) == 0 then return {0, 0, 0} end
current(ARGV[6], now, false, delta > 0)
local raw = redis.call('HGET', U, sid)
local before, after = 0, 0
if delta > 0 then
  if not raw then
    if redis.call('HLEN', U) >= MAX_STUDENTS then
      return {-2, 0, n_online(O)}
    end
    redis.call('HSET', U, sid, cjson.encode(newstu(name, now)))
  end
  redis.call('HINCRBY', P, sid, 1)
  redis.call('EXPIRE', P, TTL)
  register(me, KEYS[5], KEYS[6], KEYS[7])
  before, after = add_online(O, sid, 1)
else
  local mine = tonumber(redis.call('HGET', P, sid) or '0')
  if mine > 0 then
    if mine == 1 then redis.call('HDEL', P, sid)
    else redis.call('HINCRBY', P, sid, -1) end
    before, after = add_online(O, sid, -1)
  end
end
if raw and name ~= '' then
  local o = cjson.decode(raw)
  if o.n ~= name then
    o.n = name
    redis.call('HSET', U, sid, cjson.encode(o))
  end
end
touch()
local changed = 0
if (before > 0) ~= (after > 0) then changed = 1 end
return {0, changed, n_online(O)}
