-- Remove dead workers' names from the partition's consumer group: each consumer with no
-- pending entry, idle (no read or claim attempted) for more than ARG.idle_ms, other than
-- ARG.keep (the caller's own name).
-- KEYS:
-- ARGV: idle_ms keep
-- Looking and deleting in one atomic step matters: XGROUP DELCONSUMER drops the consumer's
-- pending entries with it, and those messages would never be reclaimed. Here, no consumer
-- can take an entry between being seen without one and being deleted. A live worker whose
-- name went is recreated by its next read. Returns the names removed.
local consumers = redis.pcall('XINFO', 'CONSUMERS', READY, GROUP)
if consumers.err then return {} end  -- no stream or no group yet: nobody to remove
local removed, idle_ms = {}, tonumber(ARG.idle_ms)
for _, reply in ipairs(consumers) do
  local info = {}
  for i = 1, #reply, 2 do info[reply[i]] = reply[i + 1] end
  if info.pending == 0 and info.idle > idle_ms and info.name ~= ARG.keep then
    redis.call('XGROUP', 'DELCONSUMER', READY, GROUP, info.name)
    removed[#removed + 1] = info.name
  end
end
return removed
