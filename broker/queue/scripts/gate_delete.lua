-- Cancel messages waiting in a gate that is being deleted, and delete the gate once its wait
-- list is empty, in one step: a message enqueued meanwhile is either cancelled here or, if
-- it comes after, lands in a gate created anew. Never a message left in a deleted wait list.
-- KEYS: gate wait messages...
-- ARGV: messages...
-- The tail keys are message hashes, the tail args their ids (read from the wait list just
-- before; an id no longer in it is left alone). Returns 1 once the gate is deleted, else 0
-- (more messages are waiting: call again).
local i = 0
while ARGV[ARG_TAIL + i] do
  local id, key = ARGV[ARG_TAIL + i], KEYS[KEY_TAIL + i]
  if redis.call('LREM', KEY.wait, 1, id) == 1 then
    redis.call('HSET', key, 'queued', 0)  -- never admitted: it holds no gate slot
    add_event(id, 'CANCEL_REQUESTED', event_header(key))
    finish_cancelled(key, id)
  end
  i = i + 1
end
if redis.call('LLEN', KEY.wait) > 0 then return 0 end
redis.call('DEL', KEY.gate, KEY.wait)
return 1
