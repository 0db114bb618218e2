-- Key-free core, prepended to every script (after the KEY/ARG tables the loader builds from
-- the script's declaration in broker/queue/scripts.py).

-- Redis TIME, in ms: one clock for every role, whatever the hosts' clocks say.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
