-- A failed attempt with retries left: back to the delayed set at ARG.due (ms). A gated
-- message keeps its gate slot while it waits, so a queue's order holds through retries.
-- KEYS: gate wait message messages...
-- ARGV: consumer entry_id message_id due last_response extra messages...
-- ARG.extra is the ERROR event's own fields; the tail is the callback (create_messages).
-- Returns 'retrying', or 'gone', 'stolen' or 'cancelled' (settle_attempt in partition.lua).
local key, message_id = KEY.message, ARG.message_id
local refused, h = settle_attempt(function() create_messages(nil) end)
if refused then return refused end
local due = tonumber(ARG.due)
redis.call('HSET', key, 'state', 'RETRY', 'last', ARG.last_response)
delay_until(message_id, due)
add_event(message_id, 'RETRY', h, string.format('{"nextDeliveryTime":%d}', due))
return 'retrying'
