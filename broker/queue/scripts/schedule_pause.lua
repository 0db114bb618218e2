-- Pause or resume a schedule (both idempotent). Runs in the {hs:sched} slot.
-- KEYS[1] due zset, KEYS[2] schedule hash.
-- ARGV[1] schedule id, ARGV[2] 'pause' or 'resume', ARGV[3] next fire ms (for resume).
-- A paused schedule has no due entry, so no replica can claim its ticks; resuming fires the
-- next tick after now, never the ones missed while paused. Returns 0 for an unknown schedule.
local id, key = ARGV[1], KEYS[2]
if redis.call('EXISTS', key) == 0 then return 0 end
if ARGV[2] == 'pause' then
  redis.call('HSET', key, 'paused', '1')
  redis.call('ZREM', KEYS[1], id)
elseif redis.call('HGET', key, 'paused') == '1' then
  redis.call('HDEL', key, 'paused')
  redis.call('ZADD', KEYS[1], ARGV[3], id)
end
return 1
