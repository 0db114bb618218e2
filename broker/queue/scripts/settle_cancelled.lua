-- A gated message found cancelled when its entry was read: ack it and free its gate slot.
-- KEYS: gate wait message
-- ARGV: consumer entry_id message_id
ack(ARG.entry_id)
if redis.call('EXISTS', KEY.message) == 1 then
  finish_cancelled(KEY.message, ARG.message_id, KEY.gate, KEY.wait)
end
return 'cancelled'
