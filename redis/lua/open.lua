-- SPDX-License-Identifier: MIT
-- @prelude online class
-- st_session_open: opens the class's session unless one is active (kept) or finalized
-- today (refused).
-- KEYS: 1-3 the class's (prelude/class.lua)
-- ARGV: class, teacher, now, today, new session id
-- Returns {code (0, -1 finalized), session, 1 when this call opened it}
local now = tonumber(ARGV[3])
local s = current(ARGV[4], now, true, true)
if s.state == '1' then return {0, pack(s), 0} end
if s.state == '2' then return {-1, pack(s), 0} end
redis.call('HSET', S, 'state', '1', 'session_id', ARGV[5], 'teacher_id', ARGV[2],
           'started_at', ARGV[3], 'ended_at', '0')
touch()
return {0, pack(get_sess()), 1}
