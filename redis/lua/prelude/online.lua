-- SPDX-License-Identifier: MIT
-- Prelude: helpers over a class's online hash, rc:{C}:online (student_id -> connections
-- over every instance; the per-instance hashes rc:{C}:pres:<inst> say what to subtract
-- when an instance dies). Not a script by itself: redis/lua/embed.cmake copies this file
-- in front of every script whose header line reads "-- @prelude online ...". The caller
-- always passes the hash's name, so these helpers build no key.

-- Every key the scripts write expires this many seconds (50 h) after its last write, so a
-- day's state outlives the day.
local TTL = 180000

-- student_id -> connections, for the students with at least one.
local function online_map(O)
  local m = {}
  local h = redis.call('HGETALL', O)
  for i = 1, #h, 2 do
    if tonumber(h[i + 1]) > 0 then m[h[i]] = tonumber(h[i + 1]) end
  end
  return m
end

-- Adds d to a student's connection sum; returns the sum before and after.
local function add_online(O, sid, d)
  local after = redis.call('HINCRBY', O, sid, d)
  if after <= 0 then redis.call('HDEL', O, sid) end
  redis.call('EXPIRE', O, TTL)
  return after - d, after
end

local function n_online(O)
  return redis.call('HLEN', O)
end
