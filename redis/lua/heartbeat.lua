-- SPDX-License-Identifier: MIT
-- st_redis_heartbeat: refreshes instance me's heartbeat key and registers the instance.
-- No prelude.
-- KEYS: 1 rc:instances, 2 rc:inst:<me>
-- ARGV: me, ttl ms
-- Returns 1 when me was registered already, 0 when it is new or was swept as dead
local known = redis.call('SISMEMBER', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
return known
