-- A gated message found cancelled when its entry was read: ack it and free its gate slot.
-- KEYS: gate wait message
-- ARGV: consumer entry_id message_id
-- Only a message still CANCEL_REQUESTED ends here: one delivered meanwhile by another attempt
-- already freed its slot, and stays readable as DELIVERED.
ack(ARG.entry_id)
if redis.call('HGET', KEY.message, 'state') == 'CANCEL_REQUESTED' then
  finish_cancelled(KEY.message, ARG.message_id, KEY.gate, KEY.wait)
end
return 'cancelled'
