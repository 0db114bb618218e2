-- Append one message to a running workflow run and store it, atomically.
-- KEYS: run steps members messages...
-- ARGV: step max_steps max_bytes idle_ms messages...
-- Returns 'ok', or why nothing was written: 'missing' (no such run), 'ended' (finished,
-- failed or cancelled), 'steps' / 'bytes' (the run would pass HOOKSTREAM_MAX_WORKFLOW_*).
local state = redis.call('HGET', KEY.run, 'state')
if not state then return 'missing' end
if state ~= 'RUN_STARTED' then return 'ended' end
local count = redis.call('LLEN', KEY.steps)
if count + 1 > tonumber(ARG.max_steps) then return 'steps' end
local bytes = tonumber(redis.call('HGET', KEY.run, 'bytes') or '0') + #ARG.step
if bytes > tonumber(ARG.max_bytes) then return 'bytes' end
local message_id = ARGV[ARG_TAIL]
create_messages(nil, nil)
redis.call('RPUSH', KEY.steps, ARG.step)
redis.call('HSET', KEY.run, 'bytes', bytes)
redis.call('SADD', KEY.members, message_id)
redis.call('HSET', KEYS[KEY_TAIL], 'wfi', count)
for _, key in ipairs({KEY.run, KEY.steps, KEY.members}) do
  redis.call('PEXPIRE', key, tonumber(ARG.idle_ms))
end
return 'ok'
