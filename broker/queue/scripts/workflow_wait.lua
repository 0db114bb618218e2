-- Register a workflow run's waiter for an event, with the message that ends the wait at its
-- timeout.
-- KEYS: run members waits held messages...
-- ARGV: event_id waiter timeout_step idle_ms messages...
-- The tail is the timeout message (delayed by the timeout). It joins the run's steps only
-- when delivered, and only if this waiter is still there (workflow_render.lua): a notify
-- that came first removed it. An event the run holds already (a notify by run id before the
-- wait) registers nothing: the caller hands it over (workflow_notify.lua). Returns 'ok',
-- 'held', 'missing' or 'ended'.
local state = redis.call('HGET', KEY.run, 'state')
if not state then return 'missing' end
if state ~= 'RUN_STARTED' then return 'ended' end
if redis.call('HEXISTS', KEY.held, ARG.event_id) == 1 then return 'held' end
local message_id = ARGV[ARG_TAIL]
create_messages(nil, nil)
redis.call('HSET', KEYS[KEY_TAIL], 'wtev', ARG.event_id, 'wtw', ARG.waiter, 'wfs', ARG.timeout_step)
redis.call('HSET', KEY.waits, ARG.event_id, ARG.waiter)
redis.call('PEXPIRE', KEY.waits, tonumber(ARG.idle_ms))
redis.call('SADD', KEY.members, message_id)
return 'ok'
