-- Create or change a gate (an ordered queue or a flow-control key), then admit what its new
-- settings allow.
-- KEYS: gate wait
-- ARGV: parallelism paused create_only rate period_ms from_message
-- ARG.paused is '1'/'0'; ARG.create_only '1' only creates a missing gate (enqueue's
-- auto-create); ARG.from_message '1' when the settings come with a published message: then a
-- pinned parallelism or rate is left alone. An empty value keeps the current one.
-- Returns 1 while the gate is not in its index yet (just created, or the caller that created
-- it failed before indexing it: the next caller does it), else 0. The index lives in another
-- slot, so the caller adds the name there and then marks the gate `indexed`.
local gate, now = KEY.gate, now_ms()
local function unindexed() return redis.call('HEXISTS', gate, 'indexed') == 0 and 1 or 0 end
local created = redis.call('HSETNX', gate, 'createdAt', now)
if created == 0 and ARG.create_only == '1' then return unindexed() end
for field, default in pairs({parallelism = 1, paused = 0, active = 0, rate = 0, period = 1000}) do
  redis.call('HSETNX', gate, field, default)
end
local from_message = ARG.from_message == '1'
local function set(field, value, pin)
  if value == '' then return end
  if from_message and pin and redis.call('HGET', gate, pin) == '1' then return end
  redis.call('HSET', gate, field, value)
end
set('parallelism', ARG.parallelism, 'pinnedParallelism')
set('paused', ARG.paused, nil)
set('rate', ARG.rate, 'pinnedRate')
set('period', ARG.period_ms, 'pinnedRate')
redis.call('HSET', gate, 'updatedAt', now)
pump(gate, KEY.wait)
return unindexed()
