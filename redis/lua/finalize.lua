-- SPDX-License-Identifier: MIT
-- @prelude online class
-- st_session_finalized: freezes the session named by ARGV[2] if it is still active. No
-- roll-over: a repeated finalize of yesterday's session must still find it.
-- KEYS: 1-3 the class's (prelude/class.lua)
-- ARGV: class, session id, ended_at, ended_date
-- Returns {code (0, -1 no such session), session, 1 when this call froze it}
local s = get_sess()
if s.date == nil then return {-1, {'', '0', '', '', '0', '0'}, 0} end
if s.state == '0' or s.session_id ~= ARGV[2] then return {-1, pack(s), 0} end
local froze = 0
if s.state == '1' then
  redis.call('HSET', S, 'state', '2', 'ended_at', ARGV[3], 'ended_date', ARGV[4])
  touch()
  froze = 1
end
return {0, pack(get_sess()), froze}
