-- A delayed message of a gate came due (promote moved it to the ready stream, start handed it
-- back): ack its entry, then put it at the back of its gate's wait list and admit what the
-- gate allows. It held no slot while delayed, so a long delay never blocks the key's others.
-- KEYS: gate wait message
-- ARGV: entry_id message_id
-- Once only: a second call for the same message (a reclaimed entry) finds `gate_due` gone.
-- A message cancelled meanwhile ends here; without its gate (a deleted queue) it is due now,
-- ungated, as publish treats a gate that does not exist. Returns 1 when it moved, else 0.
local key, message_id = KEY.message, ARG.message_id
ack(ARG.entry_id)
if redis.call('HGET', key, 'gate_due') ~= '1' then return 0 end
redis.call('HDEL', key, 'gate_due')
if redis.call('HGET', key, 'state') == 'CANCEL_REQUESTED' then
  finish_cancelled(key, message_id)
  return 0
end
if redis.call('EXISTS', KEY.gate) == 0 then
  redis.call('XADD', READY, '*', 'id', message_id)
  return 1
end
redis.call('HSET', key, 'queued', 1)
redis.call('RPUSH', KEY.wait, message_id)
pump(KEY.gate, KEY.wait)
return 1
