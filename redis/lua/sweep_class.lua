-- SPDX-License-Identifier: MIT
-- @prelude online
-- st_redis_sweep, one step: removes dead instance X's presence from one class and reports
-- the students who thereby went offline. st_redis.c finds the dead instances and their
-- classes first (plain commands) and runs this once per (dead instance, class), so every
-- key touched here is declared, and all four share the class's hash tag {C}.
-- KEYS: 1 rc:{C}:pres:<X>, 2 rc:{C}:insts, 3 rc:{C}:online, 4 rc:{C}:stu
-- ARGV: X
-- Returns {the class's online students after, then (student, name) pairs}: one pair per
-- student whose last connection was X's.
--
-- Atomic per class: the online sums lose all of X's contribution at once. Exactly once:
-- the first sweeper to run this for (X, C) empties rc:{C}:pres:<X>; another sweeper that
-- also took X for dead finds the hash empty and reports nobody.
local P, I, O, U = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local h = redis.call('HGETALL', P)
-- The names are read before anything is written: a script that fails part way keeps what
-- it wrote, and one failing here has written nothing.
local names = {}
for i = 1, #h, 2 do
  local raw = redis.call('HGET', U, h[i])
  local nm = raw and cjson.decode(raw).n
  names[h[i]] = type(nm) == 'string' and nm or ''
end
-- Then the writes. Redis refuses a script for lack of memory only before its first write,
-- never half way, and a key of the wrong type (which the engine never writes) fails the
-- first command on it; the order keeps such a refused run harmless to repeat: the set first
-- (removing twice is removing once), then the sums, and last the per-instance hash that
-- says what to subtract.
redis.call('SREM', I, ARGV[1])
local out = {0}
for i = 1, #h, 2 do
  local before, after = add_online(O, h[i], -tonumber(h[i + 1]))
  if before > 0 and after <= 0 then
    out[#out + 1] = h[i]
    out[#out + 1] = names[h[i]]
  end
end
redis.call('DEL', P)
out[1] = n_online(O)
return out
