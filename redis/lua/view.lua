-- SPDX-License-Identifier: MIT
-- @prelude online class
-- st_view: the class's session and every student record with its connection count.
-- KEYS: 1-3 the class's (prelude/class.lua)
-- ARGV: class, now, today
-- Returns {0, session, {student, record JSON, connections, ...}}
local s = current(ARGV[3], tonumber(ARGV[2]), false, false)
local on = online_map(O)
local all = redis.call('HGETALL', U)
local out = {}
for i = 1, #all, 2 do
  out[#out + 1] = all[i]
  out[#out + 1] = all[i + 1]
  out[#out + 1] = on[all[i]] or 0
end
return {0, pack(s), out}
