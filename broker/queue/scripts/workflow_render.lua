-- The body of a workflow step delivery: the run's raw steps up to and including it.
-- KEYS: run steps message waits
-- ARGV: max_bytes
-- Returns {state, body}: body is the JSON list, or '' when the run has ended (the SDK then
-- fetches the steps, finds the run gone and stops) or the list is over ARG.max_bytes (the
-- SDK fetches it with GET /v2/workflows/runs/{id}: LazyFetch). A wait's timeout message
-- joins the steps here, if its waiter is still there; else the state is 'SKIP': a notify
-- ended the wait, and there is nothing to deliver.
local state = redis.call('HGET', KEY.run, 'state') or ''
local index = redis.call('HGET', KEY.message, 'wfi')
if state == 'RUN_STARTED' and not index then
  local event_id = redis.call('HGET', KEY.message, 'wtev')
  if not event_id then return {state, ''} end
  if redis.call('HGET', KEY.waits, event_id) ~= redis.call('HGET', KEY.message, 'wtw') then
    return {'SKIP', ''}
  end
  redis.call('HDEL', KEY.waits, event_id)
  local step = redis.call('HGET', KEY.message, 'wfs')
  index = redis.call('RPUSH', KEY.steps, step) - 1
  redis.call('HINCRBY', KEY.run, 'bytes', #step)
  redis.call('HSET', KEY.message, 'wfi', index)
end
if state ~= 'RUN_STARTED' or not index then return {state, ''} end
local items = redis.call('LRANGE', KEY.steps, 0, tonumber(index))
local size = 2
for _, item in ipairs(items) do
  size = size + #item + 1
  if size > tonumber(ARG.max_bytes) then return {state, ''} end
end
return {state, '[' .. table.concat(items, ',') .. ']'}
