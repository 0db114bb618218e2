-- The body of a workflow step delivery: the run's raw steps up to and including it.
-- KEYS: run steps message
-- ARGV: max_bytes
-- Returns {state, body}: body is the JSON list, or '' when the run has ended (the SDK then
-- fetches the steps, finds the run gone and stops) or the list is over ARG.max_bytes (the
-- SDK fetches it with GET /v2/workflows/runs/{id}: LazyFetch).
local state = redis.call('HGET', KEY.run, 'state') or ''
local index = redis.call('HGET', KEY.message, 'wfi')
if state ~= 'RUN_STARTED' or not index then return {state, ''} end
local items = redis.call('LRANGE', KEY.steps, 0, tonumber(index))
local size = 2
for _, item in ipairs(items) do
  size = size + #item + 1
  if size > tonumber(ARG.max_bytes) then return {state, ''} end
end
return {state, '[' .. table.concat(items, ',') .. ']'}
