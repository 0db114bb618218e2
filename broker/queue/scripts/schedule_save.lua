-- Create or update a schedule in place. Runs in the {hs:sched} slot (no lib.lua prelude).
-- KEYS[1] due zset, KEYS[2] index zset, KEYS[3] schedule hash.
-- ARGV[1] schedule id, ARGV[2] definition, ARGV[3] body, ARGV[4] next fire ms.
-- An update keeps createdAt, the paused flag and the run history; a paused schedule gets no
-- due entry until it is resumed. Returns 1 when the schedule is new.
local id, key = ARGV[1], KEYS[3]
redis.call('HSET', key, 'd', ARGV[2], 'b', ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local created = redis.call('HSETNX', key, 'created', now)
if created == 1 then redis.call('ZADD', KEYS[2], now, id) end
if redis.call('HGET', key, 'paused') ~= '1' then redis.call('ZADD', KEYS[1], ARGV[4], id) end
return created
