-- A 2xx answer: ack, log DELIVERED, free the gate slot, drop the message, create its callback.
-- KEYS: gate wait message messages...
-- ARGV: consumer entry_id message_id extra messages...
-- ARG.extra is the DELIVERED event's own fields; the tail is the callback (create_messages).
-- Even when another worker has reclaimed the entry meanwhile, the delivery happened: settle it.
-- Returns 'delivered', or 'gone' when the message no longer exists.
local key = KEY.message
ack(ARG.entry_id)
if redis.call('EXISTS', key) == 0 then return 'gone' end
add_event(ARG.message_id, 'DELIVERED', event_header(key), ARG.extra)
release(key, KEY.gate, KEY.wait)
redis.call('DEL', key)
create_messages(nil)
return 'delivered'
