-- Claim one due tick of a schedule: the exactly-once step. Runs in the {hs:sched} slot.
-- KEYS: due schedule claims
-- ARGV: id tick next_ms message_ids record error
-- ARG.tick is the due score being fired; ARG.message_ids are comma-separated ('' when the
-- tick failed before publishing, then ARG.error says why); ARG.record is the claim.
-- Succeeds only while the due score still equals the tick and Redis TIME has reached it, so
-- of all replicas exactly one claims each tick, none early, and a paused, deleted or updated
-- schedule is never fired from a stale read. The claim is recorded in the same step as the
-- advance; it is removed only once the messages are known to be published.
-- Returns Redis TIME in ms when claimed, else 0.
local id, tick = ARG.id, tonumber(ARG.tick)
local score = redis.call('ZSCORE', KEY.due, id)
if not score or tonumber(score) ~= tick then return 0 end
local now = now_ms()
if tick > now then return 0 end
redis.call('ZADD', KEY.due, ARG.next_ms, id)
if ARG.message_ids == '' then
  redis.call('HSET', KEY.schedule, 'last', now, 'error', ARG.error)
  redis.call('HDEL', KEY.schedule, 'msgs')
else
  redis.call('HSET', KEY.claims, string.match(ARG.message_ids, '^[^,]+'), ARG.record)
  redis.call('HSET', KEY.schedule, 'last', now, 'msgs', ARG.message_ids)
  redis.call('HDEL', KEY.schedule, 'error')
end
return now
