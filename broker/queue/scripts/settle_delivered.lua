-- A 2xx answer: ack, log DELIVERED, free the queue slot, drop the message, create its callback.
-- KEYS[5] queue hash, KEYS[6] queue wait list, KEYS[7] message hash, KEYS[8..] child hashes.
-- ARGV[3] consumer, ARGV[4] entry id, ARGV[5] message id, ARGV[6] event extra, ARGV[7..] children.
-- Even when another worker has reclaimed the entry meanwhile, the delivery happened: settle it.
local key, entry_id, message_id = KEYS[7], ARGV[4], ARGV[5]
ack(entry_id)
if redis.call('EXISTS', key) == 0 then return 'gone' end
add_event(message_id, 'DELIVERED', event_header(key), ARGV[6])
release(key, KEYS[5], KEYS[6])
redis.call('DEL', key)
create_children(8, 7, nil)
return 'ok'
