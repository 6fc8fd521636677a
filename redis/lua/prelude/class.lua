-- SPDX-License-Identifier: MIT
-- Prelude of the scripts that work on one class: its keys, its session hash and the day
-- roll-over. Not a script by itself: redis/lua/embed.cmake copies it (after online.lua,
-- which it uses) in front of every script whose header line reads "-- @prelude online
-- class". Every class script declares these keys first, in this order (st_redis.c,
-- class_keys()):
--   KEYS[1] rc:{C}:sess    KEYS[2] rc:{C}:stu    KEYS[3] rc:{C}:online
-- and takes the class id C as ARGV[1].

-- A class holds at most this many students (state/memory.c has the same limit).
local MAX_STUDENTS = 10000

local cid = ARGV[1]
local S, U, O = KEYS[1], KEYS[2], KEYS[3]

local function get_sess()
  local h = redis.call('HGETALL', S)
  local s = {}
  for i = 1, #h, 2 do s[h[i]] = h[i + 1] end
  return s
end

-- The session as st_redis.c's parse_session() reads it.
local function pack(s)
  return {s.date or '', s.state or '0', s.session_id or '', s.teacher_id or '',
          s.started_at or '0', s.ended_at or '0'}
end

local function touch()
  redis.call('EXPIRE', S, TTL)
  redis.call('EXPIRE', U, TTL)
end

-- A student record (st_redis.c's parse_student() reads the same short names).
local function newstu(name, now)
  return {n = name, m = 0, mb = '', ma = 0, fs = now, e = 0, f = 0, lf = 0,
          v1 = 0, v2 = 0, v3 = 0}
end

-- The class as of day `today`: a past day is rolled over (online students stay with their
-- day's data cleared), except an active session, and a session finalized today when only
-- reading. create writes the day of an unknown class.
local function current(today, now, for_write, create)
  local s = get_sess()
  if s.date == nil then
    if create then
      redis.call('HSET', S, 'date', today, 'state', '0')
      touch()
    end
    return {date = today, state = '0'}
  end
  if s.state == '1' or s.date == today then return s end
  if s.state == '2' and not for_write and s.ended_date == today then return s end
  local on = online_map(O)
  local all = redis.call('HGETALL', U)
  redis.call('DEL', U, S)
  for i = 1, #all, 2 do
    if on[all[i]] then
      local o = cjson.decode(all[i + 1])
      redis.call('HSET', U, all[i], cjson.encode(newstu(o.n or '', now)))
    end
  end
  redis.call('HSET', S, 'date', today, 'state', '0')
  touch()
  return {date = today, state = '0'}
end

-- Records that instance me counts presence in this class. I is rc:{C}:insts, CK
-- rc:inst:<me>:classes and ALL rc:instances, all three declared by the caller.
local function register(me, I, CK, ALL)
  redis.call('SADD', I, me)
  redis.call('EXPIRE', I, TTL)
  redis.call('SADD', CK, cid)
  redis.call('EXPIRE', CK, TTL)
  redis.call('SADD', ALL, me)
end
