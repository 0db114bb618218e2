-- A 2xx answer: ack, log DELIVERED, free the gate slot, create its callback, and keep the
-- message readable for a while (or drop it at once).
-- KEYS: gate wait message messages...
-- ARGV: consumer entry_id message_id extra retention_ms messages...
-- ARG.extra is the DELIVERED event's own fields; the tail is the callback (create_messages).
-- Even when another worker has reclaimed the entry meanwhile, the delivery happened: settle it.
-- A message already final (DELIVERED by a duplicate attempt, or FAILED into the DLQ by the
-- worker that reclaimed it) keeps its first outcome, so its gate slot is freed exactly once.
-- With ARG.retention_ms > 0 the hash stays that long as a DELIVERED record: the envelope and
-- the state, nothing the worker, a cancel or a gate could still act on (body, event header,
-- `queued`, counters). With 0 it is deleted at once.
-- Returns 'delivered', or 'gone' when the message no longer exists or is already final.
local key = KEY.message
ack(ARG.entry_id)
-- One HMGET for the fields read here (release reads `queued` again, only for a gated one).
local f = redis.call('HMGET', key, 'state', 'evh', 'queued')
local state = f[1]
if not state or state == 'DELIVERED' or state == 'FAILED' then return 'gone' end
add_event(ARG.message_id, 'DELIVERED', f[2] or '{}', ARG.extra)
if f[3] == '1' then release(key, KEY.gate, KEY.wait) end
local retention = tonumber(ARG.retention_ms)
if retention > 0 then
  redis.call('HDEL', key, 'b', 'evh', 'queued', 'last', 'attempts', 'reclaims')
  redis.call('HSET', key, 'state', 'DELIVERED')
  redis.call('PEXPIRE', key, retention)
else
  redis.call('DEL', key)
end
create_messages(nil)
return 'delivered'
