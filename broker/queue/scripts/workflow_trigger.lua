-- Start a workflow run with its first message, once per run id.
-- KEYS: gate wait run steps members runs messages...
-- ARGV: gated run_id config created_ms step idle_ms messages...
-- ARG.step is the raw step of the first message (JSON); ARG.config the run's settings
-- (msgpack, workflow_runs.RunConfig). The tail is one message (see create_messages); with
-- ARG.gated '1' it passes the run's flow-control gate, as publish.lua does.
-- A run id seen before answers {0, its first message id} and writes nothing.
if redis.call('EXISTS', KEY.run) == 1 then
  return {0, redis.call('HGET', KEY.run, 'first')}
end
local message_id = ARGV[ARG_TAIL]
local gated = ARG.gated == '1' and redis.call('EXISTS', KEY.gate) == 1
create_messages(nil, gated and KEY.wait or nil)
redis.call('HSET', KEY.run, 'state', 'RUN_STARTED', 'c', ARG.config, 'created', ARG.created_ms,
  'first', message_id, 'bytes', #ARG.step)
redis.call('RPUSH', KEY.steps, ARG.step)
redis.call('SADD', KEY.members, message_id)
redis.call('HSET', KEYS[KEY_TAIL], 'wfi', 0)
redis.call('ZADD', KEY.runs, tonumber(ARG.created_ms), ARG.run_id)
-- A run idle for ARG.idle_ms (no step published) has nothing left that could continue it:
-- its keys expire, and so do index members that old (listing prunes the rest).
for _, key in ipairs({KEY.run, KEY.steps, KEY.members}) do
  redis.call('PEXPIRE', key, tonumber(ARG.idle_ms))
end
redis.call('ZREMRANGEBYSCORE', KEY.runs, '-inf', now_ms() - tonumber(ARG.idle_ms))
if gated then pump(KEY.gate, KEY.wait) end
return {1, message_id}
