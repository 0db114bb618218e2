-- Create or change a gate (an ordered queue or a flow-control key), then admit what its new
-- settings allow. KEYS[5] gate hash, KEYS[6] its wait list.
-- ARGV[3] parallelism, ARGV[4] paused ('1'/'0'), ARGV[5] '1' to only create a missing gate
-- (enqueue's auto-create), ARGV[6] rate, ARGV[7] period ms, ARGV[8] '1' when the settings
-- come with a published message: then a pinned parallelism or rate is left alone.
-- An empty value keeps the current one. Returns 1 when the gate was created.
local gate, now = KEYS[5], now_ms()
local created = redis.call('HSETNX', gate, 'createdAt', now)
if created == 0 and ARGV[5] == '1' then return 0 end
for field, default in pairs({parallelism = 1, paused = 0, active = 0, rate = 0, period = 1000}) do
  redis.call('HSETNX', gate, field, default)
end
local from_message = ARGV[8] == '1'
local function set(field, value, pin)
  if value == '' then return end
  if from_message and pin and redis.call('HGET', gate, pin) == '1' then return end
  redis.call('HSET', gate, field, value)
end
set('parallelism', ARGV[3], 'pinnedParallelism')
set('paused', ARGV[4], nil)
set('rate', ARGV[6], 'pinnedRate')
set('period', ARGV[7], 'pinnedRate')
redis.call('HSET', gate, 'updatedAt', now)
pump(gate, KEYS[6])
return created
