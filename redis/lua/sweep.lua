-- SPDX-License-Identifier: MIT
-- @prelude online
-- st_redis_sweep: removes the presence of every other instance whose heartbeat expired.
-- KEYS: 1 rc:instances
-- ARGV: me
-- Returns a flat list of (class, student, name, 0, online students) quintuples, one per
-- student who thereby went offline.
--
-- UNDECLARED KEYS. Which instances are dead, and which classes each one counted presence
-- in, is known only by reading rc:instances and then each instance's class set, inside
-- this script. So for every other instance X in rc:instances and every class c in X's
-- class set, these keys are built here and not passed in KEYS:
--   rc:inst:<X>           (EXISTS: is X's heartbeat alive?)
--   rc:inst:<X>:classes   (SMEMBERS, DEL)
--   rc:{c}:pres:<X>       (HGETALL, DEL)
--   rc:{c}:insts          (SREM)
--   rc:{c}:online         (HINCRBY, HDEL, EXPIRE, HLEN, through online.lua)
--   rc:{c}:stu            (HGET, for the names)
-- Declaring them would take a read by the caller first and then one script per dead
-- instance and class; between those calls an instance could come back, and a change could
-- be reported by two sweepers. Doing it all in one script keeps each sweep atomic: an
-- instance is swept wholly or not at all, and each change is reported once.
local me = ARGV[1]
local out = {}
for _, inst in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if inst ~= me and redis.call('EXISTS', 'rc:inst:' .. inst) == 0 then
    local CK = 'rc:inst:' .. inst .. ':classes'
    for _, c in ipairs(redis.call('SMEMBERS', CK)) do
      local p = 'rc:{' .. c .. '}:'
      local h = redis.call('HGETALL', p .. 'pres:' .. inst)
      redis.call('DEL', p .. 'pres:' .. inst)
      redis.call('SREM', p .. 'insts', inst)
      local gone = {}
      for i = 1, #h, 2 do
        local before, after = add_online(p .. 'online', h[i], -tonumber(h[i + 1]))
        if before > 0 and after <= 0 then gone[#gone + 1] = h[i] end
      end
      local n = n_online(p .. 'online')
      for _, sid in ipairs(gone) do
        local raw = redis.call('HGET', p .. 'stu', sid)
        local nm = ''
        if raw then nm = cjson.decode(raw).n or '' end
        out[#out + 1] = c; out[#out + 1] = sid; out[#out + 1] = nm
        out[#out + 1] = 0; out[#out + 1] = n
      end
    end
    redis.call('DEL', CK)
    redis.call('SREM', KEYS[1], inst)
  end
end
return out
