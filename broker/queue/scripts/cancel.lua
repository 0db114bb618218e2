-- Cancel one message. KEYS[5] queue hash, KEYS[6] queue wait list, KEYS[7] message hash;
-- ARGV[3] message id.
-- Waiting (delayed set, or a queue's wait list): removed and CANCELED now. In the ready stream
-- or in flight: marked CANCEL_REQUESTED; start.lua or the settle scripts finish it, so it is
-- never delivered again, retried or dead-lettered. Returns 1 when cancelled, 0 when unknown
-- or final.
local key, message_id = KEYS[7], ARGV[3]
local state = redis.call('HGET', key, 'state')
if not state or state == 'FAILED' or state == 'CANCEL_REQUESTED' then return 0 end
add_event(message_id, 'CANCEL_REQUESTED', event_header(key))
if redis.call('LREM', KEYS[6], 1, message_id) == 1 then
  redis.call('HSET', key, 'queued', 0)  -- never admitted: it holds no queue slot
  finish_cancelled(key, message_id, KEYS[5], KEYS[6])
elseif redis.call('ZREM', DELAYED, message_id) == 1 then
  finish_cancelled(key, message_id, KEYS[5], KEYS[6])
else
  redis.call('HSET', key, 'state', 'CANCEL_REQUESTED')
end
return 1
