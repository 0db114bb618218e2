-- Delete a flow-control key's gate once it has been idle for ARG.idle_ms and holds nothing: no
-- admitted message (active 0), none waiting, no pinned limit, not paused, and no admission
-- inside its rate period (a recreated gate would forget it and admit too soon).
-- KEYS: gate wait
-- ARGV: idle_ms
-- One atomic step, so a publish never meets half a gate: its gate_set, just before it stores
-- the message, refreshes updatedAt, which keeps the gate from being idle; a publish after the
-- delete recreates the gate from the message's own settings.
-- Returns 1 when the gate was deleted, 0 when it is kept, -1 when there is no gate.
local gate = KEY.gate
if redis.call('EXISTS', gate) == 0 then return -1 end
local g = redis.call('HMGET', gate, 'active', 'paused', 'pinnedParallelism', 'pinnedRate',
  'createdAt', 'updatedAt', 'times', 'period')
if tonumber(g[1] or '0') ~= 0 or g[2] == '1' or g[3] == '1' or g[4] == '1' then return 0 end
if redis.call('LLEN', KEY.wait) > 0 then return 0 end
local admitted = 0
for t in string.gmatch(g[7] or '', '[^,]+') do admitted = math.max(admitted, tonumber(t)) end
local now = now_ms()
local last = math.max(tonumber(g[5] or '0'), tonumber(g[6] or '0'), admitted)
if now - last < tonumber(ARG.idle_ms) or now - admitted < tonumber(g[8] or '1000') then
  return 0
end
redis.call('DEL', gate, KEY.wait)
return 1
