-- Heartbeat for long deliveries: reset the idle time of entries this consumer still owns, so
-- XAUTOCLAIM elsewhere does not take them. JUSTID leaves the delivery counter alone.
-- KEYS:
-- ARGV: consumer entries...
-- The tail is the entry ids. Returns how many were extended.
local extended = 0
local i = ARG_TAIL
while ARGV[i] do
  if owner_of(ARGV[i]) == ARG.consumer then
    redis.call('XCLAIM', READY, GROUP, ARG.consumer, 0, ARGV[i], 'JUSTID')
    extended = extended + 1
  end
  i = i + 1
end
return extended
