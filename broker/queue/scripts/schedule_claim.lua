-- Claim one due tick of a schedule: the exactly-once step. Runs in the {hs:sched} slot.
-- KEYS[1] due zset, KEYS[2] schedule hash, KEYS[3] claims hash.
-- ARGV[1] schedule id, ARGV[2] tick ms (the due score being fired), ARGV[3] next fire ms,
-- ARGV[4] message ids (comma-separated, '' when the tick failed before publishing),
-- ARGV[5] claim record, ARGV[6] error text of a failed tick.
-- Succeeds only while the due score still equals the tick and Redis TIME has reached it, so
-- of all replicas exactly one claims each tick, none early, and a paused, deleted or updated
-- schedule is never fired from a stale read. The claim is recorded in the same step as the
-- advance; it is removed only once the messages are known to be published.
-- Returns Redis TIME in ms when claimed, else 0.
local id, tick = ARGV[1], tonumber(ARGV[2])
local score = redis.call('ZSCORE', KEYS[1], id)
if not score or tonumber(score) ~= tick then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tick > now then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], id)
if ARGV[4] == '' then
  redis.call('HSET', KEYS[2], 'last', now, 'error', ARGV[6])
  redis.call('HDEL', KEYS[2], 'msgs')
else
  redis.call('HSET', KEYS[3], string.match(ARGV[4], '^[^,]+'), ARGV[5])
  redis.call('HSET', KEYS[2], 'last', now, 'msgs', ARGV[4])
  redis.call('HDEL', KEYS[2], 'error')
end
return now
