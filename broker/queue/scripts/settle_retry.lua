-- A failed attempt with retries left: back to the delayed set at ARGV[6] (ms). A queued
-- message keeps its queue slot while it waits, so the queue's order holds through retries.
-- KEYS[5] queue hash, KEYS[6] queue wait list, KEYS[7] message hash, KEYS[8..] child hashes.
-- ARGV[3] consumer, ARGV[4] entry id, ARGV[5] message id, ARGV[6] due, ARGV[7] last response,
-- ARGV[8] ERROR event extra, ARGV[9..] children.
-- Only the entry's current owner may settle a failure: a stale worker whose entry was
-- reclaimed must not schedule a second copy.
local key, entry_id, message_id = KEYS[7], ARGV[4], ARGV[5]
local owner = owner_of(entry_id)
if owner == false then return 'gone' end
if owner ~= ARGV[3] then return 'stolen' end
ack(entry_id)
local h = event_header(key)
add_event(message_id, 'ERROR', h, ARGV[8])
create_children(8, 9, nil)
if redis.call('HGET', key, 'state') == 'CANCEL_REQUESTED' then
  finish_cancelled(key, message_id, KEYS[5], KEYS[6])
  return 'cancelled'
end
local due = tonumber(ARGV[6])
redis.call('HSET', key, 'state', 'RETRY', 'last', ARGV[7])
redis.call('ZADD', DELAYED, due, message_id)
add_event(message_id, 'RETRY', h, string.format('{"nextDeliveryTime":%d}', due))
return 'ok'
