-- Append one message to a running workflow run and store it, atomically.
-- KEYS: gate wait run steps members messages...
-- ARGV: gated step max_steps max_bytes idle_ms once messages...
-- With ARG.gated '1' the message passes the run's flow-control gate, as publish.lua does.
-- Returns 'ok', or why nothing was written: 'missing' (no such run), 'ended' (finished,
-- failed or cancelled), 'steps' / 'bytes' (the run would pass HOOKSTREAM_MAX_WORKFLOW_*),
-- 'once' (ARG.once, when not empty, names an append already made: an invoke's result).
local state = redis.call('HGET', KEY.run, 'state')
if not state then return 'missing' end
if state ~= 'RUN_STARTED' then return 'ended' end
local count = redis.call('LLEN', KEY.steps)
if count + 1 > tonumber(ARG.max_steps) then return 'steps' end
local bytes = tonumber(redis.call('HGET', KEY.run, 'bytes') or '0') + #ARG.step
if bytes > tonumber(ARG.max_bytes) then return 'bytes' end
if ARG.once ~= '' and redis.call('HSETNX', KEY.run, ARG.once, 1) == 0 then return 'once' end
local message_id = ARGV[ARG_TAIL]
local gated = ARG.gated == '1' and redis.call('EXISTS', KEY.gate) == 1
create_messages(nil, gated and KEY.wait or nil)
redis.call('RPUSH', KEY.steps, ARG.step)
redis.call('HSET', KEY.run, 'bytes', bytes)
redis.call('SADD', KEY.members, message_id)
redis.call('HSET', KEYS[KEY_TAIL], 'wfi', count)
for _, key in ipairs({KEY.run, KEY.steps, KEY.members}) do
  redis.call('PEXPIRE', key, tonumber(ARG.idle_ms))
end
if gated then pump(KEY.gate, KEY.wait) end
return 'ok'
