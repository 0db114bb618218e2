-- Resume a failed workflow run from its dead-lettered step (client.dlq.resume): the run is
-- running again with its steps kept, and the step is published again under a new id, so the
-- SDK replays the steps before it and runs only what comes after.
-- KEYS: gate wait run steps members old_message messages...
-- ARGV: stream_id index step config idle_ms messages...
-- ARG.stream_id is the step's DLQ entry, ARG.index its place in the run's steps (`wfi` of the
-- dead-lettered message), ARG.step its raw step under the new id (the tail's one message),
-- ARG.config the run's settings (with a retries override). The entry goes with the resume,
-- so a second resume of it finds it gone. A sibling step dead-lettered with the first one
-- resumes into the running run too. Returns 'ok', or 'gone' (no such entry), 'state' (the
-- run succeeded, was cancelled or expired), 'changed' (the entry's message is no step there).
local entry = redis.call('XRANGE', DLQ, ARG.stream_id, ARG.stream_id)
if #entry == 0 then return 'gone' end
local state = redis.call('HGET', KEY.run, 'state')
if state ~= 'RUN_FAILED' and state ~= 'RUN_STARTED' then return 'state' end
local index = tonumber(ARG.index)
local old_step = redis.call('LINDEX', KEY.steps, index)
if not old_step or redis.call('HGET', KEY.old_message, 'wfi') ~= ARG.index then
  return 'changed'
end
redis.call('XDEL', DLQ, ARG.stream_id)
redis.call('DEL', KEY.old_message)
redis.call('SREM', KEY.members, entry[1][2][2])
redis.call('LSET', KEY.steps, index, ARG.step)
redis.call('HINCRBY', KEY.run, 'bytes', #ARG.step - #old_step)
redis.call('HSET', KEY.run, 'state', 'RUN_STARTED', 'c', ARG.config)
redis.call('HDEL', KEY.run, 'ended', 'error', 'fdlq', 'fstep', 'fcb', 'fcs')
local message_id = ARGV[ARG_TAIL]
local gated = redis.call('EXISTS', KEY.gate) == 1
create_messages(nil, gated and KEY.wait or nil)
redis.call('SADD', KEY.members, message_id)
redis.call('HSET', KEYS[KEY_TAIL], 'wfi', index)
for _, key in ipairs({KEY.run, KEY.steps, KEY.members}) do
  redis.call('PEXPIRE', key, tonumber(ARG.idle_ms))
end
if gated then pump(KEY.gate, KEY.wait) end
return 'ok'
