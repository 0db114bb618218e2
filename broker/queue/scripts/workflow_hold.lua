-- Keep an event notified to one run that does not wait for it yet (lookback): its next wait
-- for the event takes it (workflow_wait.lua).
-- KEYS: run waits held
-- ARGV: event_id data max_held idle_ms
-- A newer event of the same id replaces the held one. Returns 'held', or 'waiting' (a wait
-- came first: the caller notifies it), 'missing' or 'ended' (the run), 'full' (the run holds
-- ARG.max_held other events already). The held events expire like an idle run.
local state = redis.call('HGET', KEY.run, 'state')
if not state then return 'missing' end
if state ~= 'RUN_STARTED' then return 'ended' end
if redis.call('HEXISTS', KEY.waits, ARG.event_id) == 1 then return 'waiting' end
if redis.call('HEXISTS', KEY.held, ARG.event_id) == 0
    and redis.call('HLEN', KEY.held) >= tonumber(ARG.max_held) then
  return 'full'
end
redis.call('HSET', KEY.held, ARG.event_id, ARG.data)
redis.call('PEXPIRE', KEY.held, tonumber(ARG.idle_ms))
return 'held'
