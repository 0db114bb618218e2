-- Pause or resume a schedule (both idempotent). Runs in the {hs:sched} slot.
-- KEYS: due schedule
-- ARGV: id action next_ms
-- ARG.action is 'pause' or 'resume'; ARG.next_ms the next fire time (for resume).
-- A paused schedule has no due entry, so no replica can claim its ticks; resuming fires the
-- next tick after now, never the ones missed while paused. Returns 0 for an unknown schedule.
local id, key = ARG.id, KEY.schedule
if redis.call('EXISTS', key) == 0 then return 0 end
if ARG.action == 'pause' then
  redis.call('HSET', key, 'paused', '1')
  redis.call('ZREM', KEY.due, id)
elseif redis.call('HGET', key, 'paused') == '1' then
  redis.call('HDEL', key, 'paused')
  redis.call('ZADD', KEY.due, ARG.next_ms, id)
end
return 1
