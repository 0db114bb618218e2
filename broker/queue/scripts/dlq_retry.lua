-- Re-publish a dead-lettered message as a new one and drop the DLQ entry, atomically. A
-- message of an ordered queue goes to the back of that queue when the queue still exists.
-- KEYS: gate wait old_message messages...
-- ARGV: stream_id messages...
-- ARG.stream_id is the DLQ entry; the tail is the new message (see create_messages).
-- Returns 0 when the DLQ entry is already gone (deleted, retried or expired), else 1.
if redis.call('XDEL', DLQ, ARG.stream_id) == 0 then return 0 end
redis.call('DEL', KEY.old_message)
local gated = redis.call('EXISTS', KEY.gate) == 1
create_messages(nil, gated and KEY.wait or nil)
if gated then pump(KEY.gate, KEY.wait) end
return 1
