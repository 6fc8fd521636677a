-- SPDX-License-Identifier: MIT
-- @prelude online class
-- st_session_get: the class's session as of today.
-- KEYS: 1-3 the class's (prelude/class.lua)
-- ARGV: class, now, today
-- Returns {0, session, 0}
return {0, pack(current(ARGV[3], tonumber(ARGV[2]), false, false)), 0}
