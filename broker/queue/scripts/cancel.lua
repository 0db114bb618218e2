-- Cancel one message.
-- KEYS: gate wait message
-- ARGV: message_id
-- Waiting (delayed set, or a gate's wait list): removed and CANCELED now. In the ready stream
-- or in flight: marked CANCEL_REQUESTED; start.lua or the settle scripts finish it, so it is
-- never delivered again, retried or dead-lettered. Returns 1 when cancelled, 0 when unknown,
-- final (FAILED, or DELIVERED and kept for reading) or already cancelling.
local key, message_id = KEY.message, ARG.message_id
local state = redis.call('HGET', key, 'state')
if not state or state == 'FAILED' or state == 'DELIVERED' or state == 'CANCEL_REQUESTED' then
  return 0
end
add_event(message_id, 'CANCEL_REQUESTED', event_header(key))
if redis.call('LREM', KEY.wait, 1, message_id) == 1 then
  redis.call('HSET', key, 'queued', 0)  -- never admitted: it holds no gate slot
  finish_cancelled(key, message_id, KEY.gate, KEY.wait)
elseif redis.call('ZREM', DELAYED, message_id) == 1 then
  finish_cancelled(key, message_id, KEY.gate, KEY.wait)
else
  redis.call('HSET', key, 'state', 'CANCEL_REQUESTED')
end
return 1
