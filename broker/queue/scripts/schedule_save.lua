-- Create or update a schedule in place. Runs in the {hs:sched} slot.
-- KEYS: due index schedule
-- ARGV: id definition body next_ms
-- An update keeps createdAt, the paused flag and the run history; a paused schedule gets no
-- due entry until it is resumed. Returns 1 when the schedule is new.
local id, key = ARG.id, KEY.schedule
redis.call('HSET', key, 'd', ARG.definition, 'b', ARG.body)
local now = now_ms()
local created = redis.call('HSETNX', key, 'created', now)
if created == 1 then redis.call('ZADD', KEY.index, now, id) end
if redis.call('HGET', key, 'paused') ~= '1' then redis.call('ZADD', KEY.due, ARG.next_ms, id) end
return created
