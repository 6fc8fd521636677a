-- SPDX-License-Identifier: MIT
-- @prelude online class
-- st_redis_sync: replaces instance me's presence counts in the class with the triples
-- given, after Redis came back, and reports the students whose online state changed.
-- KEYS: 1-3 the class's (prelude/class.lua), 4 rc:{C}:pres:<me>, 5 rc:{C}:insts,
--       6 rc:inst:<me>:classes, 7 rc:instances
-- ARGV: class, me, now, today, then (student, connections, name) triples
-- Returns a flat list of (class, student, name, online 0/1, online students) quintuples
local me, P = ARGV[2], KEYS[4]
local now = tonumber(ARGV[3])
current(ARGV[4], now, false, true)
local delta, names = {}, {}
local old = redis.call('HGETALL', P)
for i = 1, #old, 2 do delta[old[i]] = -tonumber(old[i + 1]) end
redis.call('DEL', P)
for i = 5, #ARGV, 3 do
  local sid = ARGV[i]
  names[sid] = ARGV[i + 2]
  delta[sid] = (delta[sid] or 0) + tonumber(ARGV[i + 1])
  redis.call('HSET', P, sid, ARGV[i + 1])
  if redis.call('HEXISTS', U, sid) == 0 then
    redis.call('HSET', U, sid, cjson.encode(newstu(ARGV[i + 2], now)))
  end
end
redis.call('EXPIRE', P, TTL)
register(me, KEYS[5], KEYS[6], KEYS[7])
touch()
local out = {}
for sid, d in pairs(delta) do
  if d ~= 0 then
    local before, after = add_online(O, sid, d)
    if (before > 0) ~= (after > 0) then
      local nm = names[sid]
      if not nm then
        local raw = redis.call('HGET', U, sid)
        nm = raw and (cjson.decode(raw).n or '') or ''
      end
      out[#out + 1] = sid; out[#out + 1] = nm; out[#out + 1] = after > 0 and 1 or 0
    end
  end
end
local n = n_online(O)
local res = {}
for i = 1, #out, 3 do
  res[#res + 1] = cid; res[#res + 1] = out[i]; res[#res + 1] = out[i + 1]
  res[#res + 1] = out[i + 2]; res[#res + 1] = n
end
return res
