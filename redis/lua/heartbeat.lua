-- SPDX-License-Identifier: MIT
-- st_redis_heartbeat: refreshes instance me's heartbeat key and registers the instance.
-- No prelude.
-- KEYS: 1 rc:instances, 2 rc:inst:<me>, 3 rc:inst:<me>:swept
-- ARGV: me, ttl ms
-- Returns 1 when me was registered already and no sweep removed presence of me since its
-- last heartbeat; 0 when it is new or was swept: its presence must be asserted again.
--
-- A sweep sets rc:inst:<me>:swept after it removed presence of me (st_redis.c, "the
-- sweep"). Membership of rc:instances alone cannot say so: presence.lua and sync.lua add me
-- back to it, and one of them may reach Redis before this heartbeat does. The mark is read
-- and cleared here, so it answers 0 once per sweep.
local known = redis.call('SISMEMBER', KEYS[1], ARGV[1])
if redis.call('DEL', KEYS[3]) == 1 then known = 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
return known
